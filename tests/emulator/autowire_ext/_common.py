"""Helpers shared by the patches: cross-account lookups, errors, ids."""

from __future__ import annotations

import random
import re
import string
import threading
from typing import Any, Iterator

from moto.ec2.exceptions import EC2ClientError

# One lock for the state the extensions add (tokens, connection states, DNS verification).
LOCK = threading.RLock()

_rng = random.SystemRandom()


def rand_str(n: int, alphabet: str) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def rand_hex(n: int) -> str:
    return rand_str(n, "0123456789abcdef")


LOWER_ALNUM = string.ascii_lowercase + string.digits
ALNUM = string.ascii_letters + string.digits


def ec2_error(code: str, message: str) -> EC2ClientError:
    return EC2ClientError(code, message)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def ec2_backends_in_region(region: str) -> Iterator[tuple[str, Any]]:
    """Every EC2 backend that exists in `region`, whatever its account (no new ones are made)."""
    from moto.ec2.models import ec2_backends

    for account_id, account_backends in list(ec2_backends.items()):
        backend = dict.get(account_backends, region)
        if backend is not None:
            yield account_id, backend


def all_service_configs(region: str) -> Iterator[Any]:
    """Every VPC endpoint service configuration in `region`, in any account."""
    for _, backend in ec2_backends_in_region(region):
        yield from list(backend.configurations.values())


def find_service_by_name(region: str, service_name: str) -> Any | None:
    for config in all_service_configs(region):
        if config.service_name == service_name:
            return config
    return None


def find_service_by_id(region: str, service_id: str) -> Any | None:
    for config in all_service_configs(region):
        if config.id == service_id:
            return config
    return None


def endpoints_of_service(config: Any) -> Iterator[Any]:
    """Interface endpoints (in any account) created against this endpoint service."""
    region = config.ec2_backend.region_name
    for _, backend in ec2_backends_in_region(region):
        for endpoint in list(backend.vpc_end_points.values()):
            if getattr(endpoint, "autowire_service_id", None) == config.id:
                yield endpoint


_ROOT_RE = re.compile(r"^arn:aws(?:-cn|-us-gov)?:iam::(\d{12}):root$")


def principal_allows_account(principal: str, account_id: str) -> bool:
    """Does an endpoint-service allowed principal admit every IAM principal of `account_id`?

    AWS PrivateLink: an allowed principal of `*` admits everyone; `arn:aws:iam::<acct>:root`
    admits every principal in that account. Role and user ARNs admit only that role/user,
    which this account-level emulator does not distinguish, so they admit nobody here.
    """
    if principal == "*":
        return True
    m = _ROOT_RE.match(principal)
    return bool(m and m.group(1) == account_id)


def caller_arn(access_key: str | None, account_id: str, region: str) -> str:
    """The ARN of the caller, as AWS puts it into AccessDenied messages."""
    try:
        from moto.sts.models import sts_backends

        role = sts_backends[account_id][partition_of(region)].get_assumed_role_from_access_key(
            access_key
        )
        if role is not None:
            return role.arn
    except Exception:  # pragma: no cover - best effort only
        pass
    return f"arn:{partition_of(region)}:iam::{account_id}:root"


def wrap(cls: type, name: str, factory) -> None:
    """Replaces cls.name with factory(original)."""
    setattr(cls, name, factory(getattr(cls, name)))
