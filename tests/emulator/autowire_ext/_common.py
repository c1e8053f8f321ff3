"""Helpers shared by the patches: cross-account lookups, errors, ids."""

from __future__ import annotations

import json
import random
import re
import string
import threading
from typing import Any, Callable, Iterator

from moto.ec2.exceptions import EC2ClientError, InvalidFilter, InvalidNextToken

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


def page(response: Any, items: list[Any], key: str) -> dict[str, Any]:
    """One page of `items` under `key`, with EC2's MaxResults / NextToken (here: an index)."""
    start = 0
    token = response._get_param("NextToken")
    if token:
        if not token.isdigit() or int(token) > len(items):
            raise InvalidNextToken(token)
        start = int(token)
    size = response._get_int_param("MaxResults") or 1000
    result: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        result["NextToken"] = str(start + size)
    return result


def filtered(items: list[dict], filters: list[dict] | None, keys: dict[str, str]) -> list[dict]:
    """The items (dicts) that match every EC2 filter (`Name`, `Values`); `keys` maps each
    filter name the action supports to an item key. Another name: InvalidParameterValue."""
    for f in filters or []:
        if f.get("Name") not in keys:
            raise InvalidFilter(f.get("Name"), error_type="InvalidParameterValue")
    for f in filters or []:
        key, values = keys[f["Name"]], set(f.get("Values") or [])
        items = [item for item in items if item.get(key) in values]
    return items


# Endpoint connection events (Connect, Accept, Reject, Delete) as endpoints.py makes them
# happen; listeners (connection_notifications) get (service config, endpoint, event name).
CONNECTION_LISTENERS: list[Callable[[Any, Any, str], None]] = []


def announce_connection_event(config: Any, endpoint: Any, event: str) -> None:
    for listener in list(CONNECTION_LISTENERS):
        listener(config, endpoint, event)


# ---------------------------------------------------------------- ClientToken idempotency
# EC2 "Ensuring idempotency": a ClientToken seen before with the same parameters returns the
# same resource; with other parameters it is IdempotentParameterMismatch.

IDEMPOTENT_MISMATCH_MESSAGE = (
    "Arguments on this idempotent request are inconsistent with arguments used in "
    "previous request(s)."
)


def _fingerprint(response: Any) -> str:
    params = {k: v for k, v in response.params.items() if k not in ("ClientToken", "DryRun")}
    return json.dumps(params, sort_keys=True, default=str)


def _tokens(response: Any, kind: str) -> dict[str, tuple[str, str]]:
    store = response.ec2_backend.__dict__.setdefault("_autowire_client_tokens", {})
    return store.setdefault(kind, {})


def token_resource(response: Any, kind: str) -> str | None:
    """The ID of the `kind` resource an earlier request with this ClientToken made, if any."""
    token = response._get_param("ClientToken")
    known = _tokens(response, kind).get(token) if token else None
    if known is None:
        return None
    if known[0] != _fingerprint(response):
        raise ec2_error("IdempotentParameterMismatch", IDEMPOTENT_MISMATCH_MESSAGE)
    return known[1]


def remember_token(response: Any, kind: str, resource_id: str) -> None:
    token = response._get_param("ClientToken")
    if token:
        _tokens(response, kind)[token] = (_fingerprint(response), resource_id)


# ---------------------------------------------------------------- control endpoints (/_autowire/)
# Served by server.py's middleware before moto sees the request; each answers (status, JSON body).


def http_answer(status: str, body: Any) -> tuple[str, bytes]:
    return status, json.dumps(body).encode()


def http_method_not_allowed() -> tuple[str, bytes]:
    return http_answer("405 Method Not Allowed", {"error": "method not allowed"})


def http_json_body(environ: dict[str, Any]) -> Any:
    """The request's JSON body (None when empty); ValueError when it is not JSON."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"null")
