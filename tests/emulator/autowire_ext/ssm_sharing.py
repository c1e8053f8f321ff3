"""Cross-account Parameter Store reads through AWS RAM.

AWS behaviour (Systems Manager User Guide, "Working with shared parameters"): the owner
shares an *Advanced*-tier parameter with AWS RAM (a resource share with the parameter's
ARN as resource and account IDs as principals); the consumer reads it with GetParameter /
GetParameters using the parameter's full ARN. A Standard-tier parameter cannot be shared.

Emulator modelling choices:

- the share is associated immediately (as inside an AWS Organization with RAM sharing
  enabled, where no invitation has to be accepted);
- a Standard-tier (or missing) parameter's resource association ends up FAILED, with a
  statusMessage saying why, and the parameter is not shared (RAM's association is
  asynchronous, so CreateResourceShare itself succeeds);
- an ARN from another account that is not shared with the caller is refused with
  AccessDeniedException ("... because no resource-based policy allows the ssm:GetParameter
  action"), whether or not the parameter exists, as IAM evaluates it;
- principals honoured: 12-digit account IDs and arn:aws:iam::<acct>:root.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import unix_time, utcnow
from moto.ram import urls as ram_urls
from moto.ram.exceptions import UnknownResourceException
from moto.ram.models import ResourceAccessManagerBackend, ResourceShare, ram_backends
from moto.ram.responses import ResourceAccessManagerResponse
from moto.ssm.exceptions import ParameterNotFound
from moto.ssm.models import ssm_backends
from moto.ssm.responses import SimpleSystemManagerResponse

from ._common import LOCK, caller_arn, wrap

_PARAM_ARN = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov):ssm:([a-z0-9-]+):(\d{12}):parameter(/[^:]*)(:[^:/]+)?$"
)


class AccessDeniedException(ServiceException):
    code = "AccessDeniedException"


def parse_parameter_arn(arn: str) -> tuple[str, str, str, str, str] | None:
    """(partition, region, account, name-with-leading-slash, selector) of a parameter ARN."""
    m = _PARAM_ARN.match(arn or "")
    if not m:
        return None
    return m.group(1), m.group(2), m.group(3), m.group(4), m.group(5) or ""


def _lookup(account: str, region: str, path: str, selector: str) -> Any | None:
    backend = ssm_backends[account][region]
    # "/a/b" is stored as "/a/b"; a top-level name may be stored with or without the slash.
    for name in (path, path.lstrip("/")):
        param = backend.get_parameter(name + selector)
        if param is not None:
            return param
    return None


# ---------------------------------------------------------------- RAM


def _resource_status(share: Any, arn: str) -> tuple[str, str | None]:
    parsed = parse_parameter_arn(arn)
    if parsed is None:
        return "ASSOCIATED", None  # not a parameter: moto's behaviour
    _, region, account, path, _ = parsed
    if account != share.owning_account_id:
        return "FAILED", f"The resource {arn} is not owned by account {share.owning_account_id}."
    param = _lookup(account, region, path, "")
    if param is None:
        return "FAILED", f"The resource {arn} does not exist."
    if (param.tier or "Standard") != "Advanced":
        return (
            "FAILED",
            f"The parameter {param.name} is in the Standard tier; only Advanced-tier "
            "parameters can be shared.",
        )
    return "ASSOCIATED", None


def _statuses(share: Any) -> dict[str, tuple[str, str | None]]:
    return share.__dict__.setdefault("_autowire_resource_status", {})


def _associate(share: Any, arns: list[str]) -> None:
    statuses = _statuses(share)
    for arn in arns:
        statuses[arn] = _resource_status(share, arn)


def _create_resource_share(original):
    def create_resource_share(self, **kwargs: Any) -> dict[str, Any]:
        with LOCK:
            result = original(self, **kwargs)
            share = self.resource_shares[-1]
            _associate(share, list(share.resource_arns))
        return result

    return create_resource_share


def _find_share(backend: Any, arn: str | None) -> Any:
    for share in backend.resource_shares:
        if share.arn == arn:
            return share
    raise UnknownResourceException(f"ResourceShare {arn} could not be found.")


def _association(
    share: Any, entity: str, kind: str, status: str, message: str | None
) -> dict[str, Any]:
    item = {
        "resourceShareArn": share.arn,
        "resourceShareName": share.name,
        "associatedEntity": entity,
        "associationType": kind,
        "status": status,
        "creationTime": unix_time(share.creation_time),
        "lastUpdatedTime": unix_time(share.last_updated_time),
        "external": False,
    }
    if message:
        item["statusMessage"] = message
    return item


def associate_resource_share(self) -> str:
    params = self.request_params
    backend = self.ram_backend
    with LOCK:
        share = _find_share(backend, params.get("resourceShareArn"))
        principals = [p for p in params.get("principals", []) or [] if p not in share.principals]
        arns = [a for a in params.get("resourceArns", []) or [] if a not in share.resource_arns]
        share.add_principals(principals)
        share.add_resources(arns)
        _associate(share, arns)
        share.last_updated_time = utcnow()
        out = [_association(share, p, "PRINCIPAL", "ASSOCIATED", None) for p in principals]
        out += [_association(share, a, "RESOURCE", *_statuses(share)[a]) for a in arns]
    return json.dumps({"resourceShareAssociations": out, "clientToken": params.get("clientToken")})


def disassociate_resource_share(self) -> str:
    params = self.request_params
    backend = self.ram_backend
    with LOCK:
        share = _find_share(backend, params.get("resourceShareArn"))
        principals = [p for p in params.get("principals", []) or [] if p in share.principals]
        arns = [a for a in params.get("resourceArns", []) or [] if a in share.resource_arns]
        share.principals = [p for p in share.principals if p not in principals]
        share.resource_arns = [a for a in share.resource_arns if a not in arns]
        for a in arns:
            _statuses(share).pop(a, None)
        share.last_updated_time = utcnow()
        out = [_association(share, p, "PRINCIPAL", "DISASSOCIATED", None) for p in principals]
        out += [_association(share, a, "RESOURCE", "DISASSOCIATED", None) for a in arns]
    return json.dumps({"resourceShareAssociations": out, "clientToken": params.get("clientToken")})


def _get_associations(original):
    def get_resource_share_associations(
        self, association_type, association_status, resource_share_arns, resource_arn, principal
    ):
        # moto echoes the requested status back; report the real one and filter by it.
        result = original(
            self, association_type, None, resource_share_arns, resource_arn, principal
        )
        shares = {s.arn: s for s in self.resource_shares}
        items = []
        for item in result["resourceShareAssociations"]:
            share = shares.get(item["resourceShareArn"])
            if item["associationType"] == "RESOURCE" and share is not None:
                status, message = _statuses(share).get(
                    item["associatedEntity"], ("ASSOCIATED", None)
                )
                item["status"] = status
                if message:
                    item["statusMessage"] = message
            if association_status and item["status"] != association_status:
                continue
            items.append(item)
        return {"resourceShareAssociations": items}

    return get_resource_share_associations


def is_shared_with(parameter_arn: str, account_id: str) -> bool:
    parsed = parse_parameter_arn(parameter_arn)
    if parsed is None:
        return False
    partition, region, owner, path, _ = parsed
    wanted = f"arn:{partition}:ssm:{region}:{owner}:parameter{path}"
    backend = dict.get(ram_backends.get(owner) or {}, region)
    if backend is None:
        return False
    admits = {account_id, f"arn:{partition}:iam::{account_id}:root"}
    for share in list(backend.resource_shares):
        if share.status != "ACTIVE" or wanted not in share.resource_arns:
            continue
        if _statuses(share).get(wanted, ("ASSOCIATED", None))[0] != "ASSOCIATED":
            continue
        if admits & set(share.principals):
            return True
    return False


# ---------------------------------------------------------------- SSM


def _foreign(response: Any, name: str) -> tuple[str, str, str, str, str] | None:
    parsed = parse_parameter_arn(name)
    if parsed is None or parsed[2] == response.current_account:
        return None
    return parsed


def _denied(response: Any, action: str, arn: str) -> AccessDeniedException:
    who = caller_arn(response.access_key, response.current_account, response.region)
    return AccessDeniedException(
        "AccessDeniedException",
        f"User: {who} is not authorized to perform: ssm:{action} on resource: {arn} "
        f"because no resource-based policy allows the ssm:{action} action",
    )


def _read_foreign(response: Any, name: str, parsed: tuple, action: str) -> Any | None:
    partition, region, owner, path, selector = parsed
    arn = f"arn:{partition}:ssm:{region}:{owner}:parameter{path}"
    if not is_shared_with(arn, response.current_account):
        raise _denied(response, action, arn)
    return _lookup(owner, region, path, selector)


def _get_parameter(original):
    def get_parameter(self) -> ActionResult:
        name = self._get_param("Name") or ""
        parsed = parse_parameter_arn(name)
        if parsed is None:
            return original(self)  # a plain name: moto as is
        region = parsed[1]
        if _foreign(self, name) is not None:
            param = _read_foreign(self, name, parsed, "GetParameter")
        else:
            # Own account by ARN: look it up wherever its region says.
            param = _lookup(parsed[2], region, parsed[3], parsed[4])
        if param is None:
            raise ParameterNotFound(f"Parameter {name} not found.")
        decrypt = bool(self._get_param("WithDecryption"))
        return ActionResult({"Parameter": param.response_object(decrypt, region)})

    return get_parameter


def _get_parameters(original):
    def get_parameters(self) -> ActionResult:
        names = self._get_param("Names") or []
        if not any(parse_parameter_arn(n) for n in names):
            return original(self)
        decrypt = bool(self._get_param("WithDecryption"))
        found, invalid = [], []
        plain = [n for n in names if parse_parameter_arn(n) is None]
        own = self.ssm_backend.get_parameters(plain) if plain else {}
        for name in names:
            parsed = parse_parameter_arn(name)
            if parsed is None:
                param = own.get(name)
                region = self.region
            elif parsed[2] == self.current_account:
                param = _lookup(parsed[2], parsed[1], parsed[3], parsed[4])
                region = parsed[1]
            else:
                param = _read_foreign(self, name, parsed, "GetParameters")
                region = parsed[1]
            if param is None:
                invalid.append(name)
            else:
                found.append(param.response_object(decrypt, region))
        found.sort(key=lambda p: p["Name"])
        return ActionResult({"Parameters": found, "InvalidParameters": invalid})

    return get_parameters


def apply() -> str:
    if "parameter" not in ResourceShare.SHAREABLE_RESOURCES:
        ResourceShare.SHAREABLE_RESOURCES.append("parameter")
    wrap(ResourceAccessManagerBackend, "create_resource_share", _create_resource_share)
    wrap(ResourceAccessManagerBackend, "get_resource_share_associations", _get_associations)
    for handler in (associate_resource_share, disassociate_resource_share):
        setattr(ResourceAccessManagerResponse, handler.__name__, handler)
        path = "{0}/" + handler.__name__.replace("_", "") + "$"
        ram_urls.url_paths.setdefault(path, ResourceAccessManagerResponse.dispatch)
    wrap(SimpleSystemManagerResponse, "get_parameter", _get_parameter)
    wrap(SimpleSystemManagerResponse, "get_parameters", _get_parameters)
    return "ssm-sharing-through-ram"
