"""VPC security groups as the consumer side meets them: a group the link owns, its ingress
rules, and its deletion once the endpoint that uses it is gone.

AWS behaviours added (EC2 API reference for CreateSecurityGroup, AuthorizeSecurityGroupIngress,
RevokeSecurityGroupIngress, DeleteSecurityGroup; EC2 "Error codes"):

- CreateSecurityGroup with a name the VPC already has: `InvalidGroup.Duplicate` /
  `The security group '<name>' already exists for VPC '<vpc-id>'` (moto leaves out the VPC);
- AuthorizeSecurityGroupIngress of a rule the group has: `InvalidPermission.Duplicate` /
  `the specified rule "peer: <cidr|sg-id|pl-id>, TCP, from port: 443, to port: 443, ALLOW"
  already exists` (lower-case `the`, as AWS sends it; `ALL` without ports for protocol -1,
  `protocol: <n>` for other numbered protocols). Nothing is added when one rule of the
  request fails (moto keeps the ones before it). The same rule twice in one request:
  `InvalidParameterValue` / `The same permission must not appear multiple times`;
- RevokeSecurityGroupIngress of a rule the group does not have, in a non-default VPC:
  `InvalidPermission.NotFound` / `The specified rule does not exist in this security group.`
  and no rule of the request is revoked; in the default VPC no error, the unmatched
  permissions come back in `UnknownIpPermissions`. Unknown `SecurityGroupRuleIds`:
  `InvalidSecurityGroupRuleId.NotFound` (moto's message);
- DeleteSecurityGroup of a group a network interface still uses (an interface endpoint's
  ENIs carry its groups until the endpoint is `deleted`; instances' ENIs too) or that
  another group's rules reference: `DependencyViolation` /
  `resource <sg-id> has a dependent object` (HTTP 400).

Where AWS's live wording was found (public error reports) it is used as is; the ICMP form of
the duplicate-rule message was not found and is *emulator wording*.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    InvalidPermissionNotFoundError,
    InvalidSecurityGroupDuplicateError,
    InvalidSecurityGroupNotFoundError,
    InvalidSecurityGroupRuleIdNotFoundError,
)
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.responses import EC2Response

from ._common import LOCK, ec2_error, wrap

RULE_NOT_FOUND_MESSAGE = "The specified rule does not exist in this security group."
SAME_PERMISSION_MESSAGE = "The same permission must not appear multiple times"

_PROTOCOL_NAMES = {"tcp": "TCP", "6": "TCP", "udp": "UDP", "17": "UDP", "icmp": "ICMP", "1": "ICMP"}


# ---------------------------------------------------------------- helpers


def _group(backend: Any, kwargs: dict[str, Any]) -> Any | None:
    return backend.get_security_group_by_name_or_id(
        kwargs["group_name_or_id"], kwargs.get("vpc_id")
    )


def _candidate_rules(backend: Any, group: Any, kwargs: dict[str, Any]) -> list[Any]:
    """The rules one IpPermission of the request stands for, built the way moto builds them
    (so they compare equal to stored ones); the request's own dicts are left alone."""
    ip_ranges = copy.deepcopy(kwargs.get("ip_ranges") or [])
    if isinstance(ip_ranges, str):
        ip_ranges = [{"CidrIp": ip_ranges}]
    sources = backend._add_source_group(
        copy.deepcopy(kwargs.get("source_groups") or []), kwargs.get("vpc_id")
    )
    return list(
        backend._iterate_security_rules(
            kwargs.get("ip_protocol"),
            group.group_id,
            kwargs.get("from_port"),
            kwargs.get("to_port"),
            ip_ranges,
            sources,
            copy.deepcopy(kwargs.get("prefix_list_ids") or []),
            is_egress=False,
        )
    )


def _peer(rule: Any) -> str:
    if rule.ip_range.get("CidrIp"):
        return rule.ip_range["CidrIp"]
    if rule.ip_range.get("CidrIpv6"):
        return rule.ip_range["CidrIpv6"]
    if rule.source_group:
        return rule.source_group.get("GroupId") or rule.source_group.get("GroupName") or ""
    return rule.prefix_list_id or ""


def rule_text(rule: Any) -> str:
    """AWS's description of a rule in InvalidPermission.Duplicate, e.g.
    `peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW`."""
    protocol = str(rule.ip_protocol or "-1").lower()
    if protocol in ("-1", "all"):
        what = "ALL"
    elif protocol in ("icmp", "1"):
        # Emulator wording: no public sample of the ICMP form was found.
        what = f"ICMP, type: {rule.from_port}, code: {rule.to_port}"
    elif protocol in _PROTOCOL_NAMES:
        what = f"{_PROTOCOL_NAMES[protocol]}, from port: {rule.from_port}, to port: {rule.to_port}"
    else:
        what = f"protocol: {protocol}"
    return f"peer: {_peer(rule)}, {what}, ALLOW"


def duplicate_error(rule: Any):
    return ec2_error(
        "InvalidPermission.Duplicate", f'the specified rule "{rule_text(rule)}" already exists'
    )


def _snapshot(groups: list[Any]) -> list[tuple[Any, list[Any]]]:
    return [(g, list(g.ingress_rules)) for g in groups]


def _restore(saved: list[tuple[Any, list[Any]]]) -> None:
    for group, rules in saved:
        group.ingress_rules = rules


# ---------------------------------------------------------------- CreateSecurityGroup


def _create_security_group(original):
    def create_security_group(self, name, description, vpc_id=None, *args, **kwargs):
        try:
            return original(self, name, description, vpc_id, *args, **kwargs)
        except InvalidSecurityGroupDuplicateError:
            vpc = vpc_id or self.default_vpc.id
            raise ec2_error(
                "InvalidGroup.Duplicate",
                f"The security group '{name}' already exists for VPC '{vpc}'",
            )

    return create_security_group


# ---------------------------------------------------------------- ingress rules


def authorize_security_group_ingress(self) -> ActionResult:
    """All of the request's rules or none; AWS's messages for duplicates."""
    self.error_on_dryrun()
    backend = self.ec2_backend
    calls = list(self._process_rules_from_querystring())
    with LOCK:
        groups = [g for g in (_group(backend, kw) for kw in calls) if g is not None]
        seen: list[Any] = []
        for kwargs in calls:
            group = _group(backend, kwargs)
            if group is None:
                raise InvalidSecurityGroupNotFoundError(kwargs["group_name_or_id"])
            for rule in _candidate_rules(backend, group, kwargs):
                if rule in group.ingress_rules:
                    raise duplicate_error(rule)
                if rule in seen:
                    raise ec2_error("InvalidParameterValue", SAME_PERMISSION_MESSAGE)
                seen.append(rule)
        saved = _snapshot(groups)
        added: list[Any] = []
        try:
            for kwargs in calls:
                rules, _ = backend.authorize_security_group_ingress(**kwargs)
                added.extend(rules)
        except Exception:
            _restore(saved)
            raise
    return ActionResult({"Return": True, "SecurityGroupRules": added})


def _is_default_vpc(backend: Any, vpc_id: str | None) -> bool:
    vpc = backend.vpcs.get(vpc_id) if vpc_id else None
    return bool(vpc is not None and vpc.is_default)


def _as_permission(kwargs: dict[str, Any]) -> dict[str, Any]:
    """An IpPermission (response shape) for one unmatched permission of the request."""
    permission: dict[str, Any] = {"IpProtocol": str(kwargs.get("ip_protocol"))}
    if str(kwargs.get("ip_protocol")) not in ("-1", "all"):
        permission["FromPort"] = kwargs.get("from_port")
        permission["ToPort"] = kwargs.get("to_port")
    ranges = kwargs.get("ip_ranges") or []
    if isinstance(ranges, str):
        ranges = [{"CidrIp": ranges}]
    permission["IpRanges"] = [r for r in ranges if isinstance(r, dict) and "CidrIp" in r]
    permission["Ipv6Ranges"] = [r for r in ranges if isinstance(r, dict) and "CidrIpv6" in r]
    permission["UserIdGroupPairs"] = list(kwargs.get("source_groups") or [])
    permission["PrefixListIds"] = list(kwargs.get("prefix_list_ids") or [])
    return permission


def revoke_security_group_ingress(self) -> ActionResult:
    """Non-default VPC: an unknown rule fails the whole request. Default VPC: unknown rules
    are reported in UnknownIpPermissions and the others revoked."""
    self.error_on_dryrun()
    backend = self.ec2_backend
    calls = list(self._process_rules_from_querystring())
    unknown: list[dict[str, Any]] = []
    with LOCK:
        groups = [g for g in (_group(backend, kw) for kw in calls) if g is not None]
        saved = _snapshot(groups)
        try:
            for kwargs in calls:
                group = _group(backend, kwargs)
                if group is None:
                    raise InvalidSecurityGroupNotFoundError(kwargs["group_name_or_id"])
                rule_ids = kwargs.get("security_rule_ids") or []
                if rule_ids:
                    known = {r.id for r in group.ingress_rules}
                    for rule_id in rule_ids:
                        if rule_id not in known:
                            raise InvalidSecurityGroupRuleIdNotFoundError(rule_id)
                args = {k: v for k, v in kwargs.items() if k != "sgrule_tags"}
                try:
                    backend.revoke_security_group_ingress(**args)
                except InvalidPermissionNotFoundError:
                    if not _is_default_vpc(backend, group.vpc_id):
                        raise ec2_error("InvalidPermission.NotFound", RULE_NOT_FOUND_MESSAGE)
                    unknown.append(_as_permission(kwargs))
        except Exception:
            _restore(saved)
            raise
    result: dict[str, Any] = {"Return": True}
    if unknown:
        result["UnknownIpPermissions"] = unknown
    return ActionResult(result)


# ---------------------------------------------------------------- DeleteSecurityGroup


def in_use(backend: Any, group: Any) -> bool:
    """Does anything still depend on the group: a network interface that carries it (interface
    endpoints' ENIs exist until the endpoint is `deleted`), or another group's rule that names
    it as its source?"""
    for eni in list(backend.enis.values()):
        if any(getattr(g, "id", g) == group.id for g in list(eni.group_set)):
            return True
    for groups in list(backend.groups.values()):
        for other in list(groups.values()):
            if other.id == group.id:
                continue
            for rule in list(other.ingress_rules) + list(other.egress_rules):
                if (rule.source_group or {}).get("GroupId") == group.id:
                    return True
    return False


def _delete_security_group(original):
    def delete_security_group(self, name=None, group_id=None):
        with LOCK:
            group = None
            if group_id:
                group = self.get_security_group_from_id(group_id)
            elif name:
                group = self.get_security_group_by_name_or_id(name)
            if group is not None and in_use(self, group):
                raise ec2_error(
                    "DependencyViolation", f"resource {group.id} has a dependent object"
                )
            return original(self, name=name, group_id=group_id)

    return delete_security_group


def apply() -> str:
    wrap(SecurityGroupBackend, "create_security_group", _create_security_group)
    wrap(SecurityGroupBackend, "delete_security_group", _delete_security_group)
    for handler in (authorize_security_group_ingress, revoke_security_group_ingress):
        setattr(EC2Response, handler.__name__, handler)
    return "security-groups"
