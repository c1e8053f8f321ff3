"""Route 53 record changes as AWS makes them, and the public DNS view other extensions read.

AWS behaviour (Route 53 API reference, ChangeResourceRecordSets): a change batch is
transactional. Route 53 validates every change against the zone as the earlier changes of the
same batch leave it, then makes all of them or none. The failures, each an
`InvalidChangeBatch` (HTTP 400) whose message lists every failing change inside `[...]`,
joined with ", ":

- CREATE of a name and type (and set identifier) that already exists:
  `Tried to create resource record set [name='<name>', type='<type>'] but it already exists`;
- DELETE of one that does not exist:
  `Tried to delete resource record set [name='<name>', type='<type>'] but it was not found`;
- DELETE whose TTL, values, alias target or routing settings differ from the current ones:
  `Tried to delete resource record set [name='<name>', type='<type>'] but the values
  provided do not match the current values` (one line);
- a name that is neither the zone's name nor below it:
  `RRSet with DNS name <name> is not permitted in zone <zone>` (both with their final dot).

UPSERT creates or replaces. Names are compared without regard to case or a final dot.
moto (5.2.5) instead applies the changes one by one, lets CREATE duplicate a record set whose
values differ, answers a DELETE it cannot match with `InvalidInput`, and accepts names that
merely end with the zone's name (`a.badexample.com` in `example.com`).

A change that has neither `AliasTarget` nor both `TTL` and `ResourceRecords` is refused
before anything else with moto's (AWS-shaped) `InvalidInput` message.

Hosted zone IDs start with `Z`, as AWS's do (`Z` + 21 characters here); moto's are 22 random
letters and digits, which code that checks the shape of a zone ID would refuse.

Delegation. Public DNS answers from a public hosted zone only once its parent domain delegates
to the zone's name servers. The test bed has no parent domains, so every public zone counts as
delegated unless it carries the tag `autowire-emulator:delegated` = `false` (set with the
ordinary ChangeTagsForResource, ResourceType `hostedzone`; removing the tag or setting it to
anything else delegates the zone again). `resolvable_zones()` is the public DNS view the other
extensions read (private DNS verification, ACM validation and CAA): public, delegated zones only.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

from moto.route53.exceptions import InvalidActionValue, InvalidInput, Route53ClientError
from moto.route53.models import HostedZoneIdentifier, RecordSet, Route53Backend
from moto.route53.utils import validate_domain_name

from ._common import LOCK, wrap

ACTIONS = ("CREATE", "UPSERT", "DELETE")
EXISTS = "already exists"
MISSING = "was not found"

# Routing settings that, with TTL, values and alias target, make up a record set's identity
# for DELETE (Route 53: "you must specify all the same values that you specified when you
# created it").
_ROUTING_FIELDS = (
    ("Weight", "weight"),
    ("Region", "region"),
    ("Failover", "failover"),
    ("HealthCheckId", "health_check_id"),
    ("MultiValueAnswer", "multi_value_answer"),
    ("GeoLocation", "geo_location"),
)


class InvalidChangeBatchError(Route53ClientError):
    code = "InvalidChangeBatch"


# ---------------------------------------------------------------- the public DNS view


def norm(name: str | None) -> str:
    """A DNS name for comparison: lower case, without the final dot."""
    return (name or "").strip().lower().rstrip(".")


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def in_zone(name: str, zone_name: str) -> bool:
    n, z = norm(name), norm(zone_name)
    return n == z or n.endswith("." + z)


def is_public(zone: Any) -> bool:
    return str(zone.private_zone).lower() != "true"


DELEGATION_TAG = "autowire-emulator:delegated"


def _backends() -> Iterator[Any]:
    from moto.route53.models import route53_backends

    for _, partitions in list(route53_backends.items()):
        yield from list(dict.values(partitions))


def bare_zone_id(zone_id: str) -> str:
    """`Z…` from `/hostedzone/Z…` (moto keeps the long form; tags use the short one)."""
    return str(zone_id).rsplit("/", 1)[-1]


def is_delegated(backend: Any, zone: Any) -> bool:
    """Does public DNS reach the zone? Yes unless tagged `autowire-emulator:delegated=false`."""
    tags = backend.resource_tags.get(bare_zone_id(zone.id)) or {}
    return str(tags.get(DELEGATION_TAG, "true")).strip().lower() != "false"


def public_zones() -> Iterator[Any]:
    """Every public hosted zone of every account, delegated or not."""
    for backend in _backends():
        for zone in list(backend.zones.values()):
            if is_public(zone):
                yield zone


def resolvable_zones() -> Iterator[Any]:
    """The public zones public DNS answers from: public and delegated, of any account (public
    DNS is one namespace for all)."""
    for backend in _backends():
        for zone in list(backend.zones.values()):
            if is_public(zone) and is_delegated(backend, zone):
                yield zone


def rrset_type(rrset: Any) -> str:
    return str(getattr(rrset, "type_", None) or getattr(rrset, "type", "") or "").upper()


def record_values(rrset: Any) -> list[str]:
    """The values of a record set (moto keeps strings, or dicts for records it made itself)."""
    values = []
    for record in rrset.records or []:
        values.append(str(record.get("Value", "")) if isinstance(record, dict) else str(record))
    return values


def public_records(rtype: str) -> Iterator[tuple[str, list[str], Any]]:
    """(normalised name, values, zone) of every `rtype` record set public DNS answers: those in
    public, delegated zones (`resolvable_zones`)."""
    for zone in resolvable_zones():
        for rrset in list(zone.rrsets):
            if rrset_type(rrset) == rtype:
                yield norm(rrset.name), record_values(rrset), zone


# ---------------------------------------------------------------- ChangeResourceRecordSets


def _missing_data_message(action: str, rrset: dict[str, Any]) -> str:
    return (
        "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
        "ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with "
        f"[Action={action}, Name={rrset.get('Name')}, Type={rrset.get('Type')}, "
        f"SetIdentifier={rrset.get('SetIdentifier') or 'null'}]"
    )


def _has_data(rrset: dict[str, Any]) -> bool:
    if rrset.get("AliasTarget") or rrset.get("TrafficPolicyInstanceId"):
        return True
    return rrset.get("TTL") is not None and bool(rrset.get("ResourceRecords"))


def _key(name: str, rtype: str | None, set_identifier: Any) -> tuple[str, str, str | None]:
    return norm(name), str(rtype or "").upper(), (str(set_identifier) if set_identifier else None)


def _rrset_key(rrset: RecordSet) -> tuple[str, str, str | None]:
    return _key(rrset.name, rrset_type(rrset), rrset.set_identifier)


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _alias(alias: Any) -> tuple | None:
    if not alias:
        return None
    return (
        norm(alias.get("DNSName")),
        str(alias.get("HostedZoneId") or ""),
        str(alias.get("EvaluateTargetHealth", False)).lower() == "true",
    )


def _flat(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return repr(sorted((k, str(v)) for k, v in value.items()))
    return str(value).lower()


def _matches(current: RecordSet, requested: dict[str, Any]) -> bool:
    """Does a DELETE carry exactly the current record set's data?"""
    if _int_or_none(current.ttl) != _int_or_none(requested.get("TTL")):
        return False
    wanted = sorted(str(r.get("Value", "")) for r in requested.get("ResourceRecords") or [])
    if sorted(record_values(current)) != wanted:
        return False
    if _alias(current.alias_target) != _alias(requested.get("AliasTarget")):
        return False
    return all(
        _flat(getattr(current, attr)) == _flat(requested.get(field))
        for field, attr in _ROUTING_FIELDS
    )


def _stored(rrset: dict[str, Any]) -> RecordSet:
    """A moto RecordSet as moto keeps one: final dot on the name, values as plain strings."""
    data = copy.deepcopy(rrset)
    data["Name"] = fqdn(data["Name"])
    if "ResourceRecords" in data:
        data["ResourceRecords"] = [r["Value"] for r in data["ResourceRecords"] or []]
    return RecordSet(data)


def change_resource_record_sets(self, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    zone = self.get_hosted_zone(zoneid)
    changes = list(change_list or [])
    # Request validation first: malformed changes are InvalidInput, not InvalidChangeBatch.
    for change in changes:
        action = change.get("Action")
        if action not in ACTIONS:
            raise InvalidActionValue(action)
        rrset = change.get("ResourceRecordSet") or {}
        validate_domain_name(rrset.get("Name", ""), code="InvalidChangeBatch")
        if not _has_data(rrset):
            raise InvalidInput(_missing_data_message(action, rrset))

    with LOCK:
        working = list(zone.rrsets)
        errors: list[str] = []
        for change in changes:
            action = change["Action"]
            rrset = change["ResourceRecordSet"]
            name, rtype = fqdn(rrset["Name"]), rrset.get("Type")
            if not in_zone(name, zone.name):
                zone_name = fqdn(zone.name)
                errors.append(f"RRSet with DNS name {name} is not permitted in zone {zone_name}")
                continue
            key = _key(name, rtype, rrset.get("SetIdentifier"))
            index = next((i for i, r in enumerate(working) if _rrset_key(r) == key), None)
            where = f"[name='{name}', type='{rtype}']"
            if action == "CREATE":
                if index is not None:
                    errors.append(f"Tried to create resource record set {where} but it {EXISTS}")
                else:
                    working.append(_stored(rrset))
            elif action == "UPSERT":
                if index is None:
                    working.append(_stored(rrset))
                else:
                    working[index] = _stored(rrset)
            else:  # DELETE
                if index is None:
                    errors.append(f"Tried to delete resource record set {where} but it {MISSING}")
                elif not _matches(working[index], rrset):
                    errors.append(
                        f"Tried to delete resource record set {where} but the values provided "
                        "do not match the current values"
                    )
                else:
                    del working[index]
        if errors:
            raise InvalidChangeBatchError("[" + ", ".join(errors) + "]")
        zone.rrsets = working


def _zone_id(original):
    def generate(self, existing_ids=None, tags=None) -> str:
        zone_id = original(self, existing_ids=existing_ids, tags=tags)
        # AWS: "Z" and then letters and digits (Z08506401RX6W8XVD9DA5); moto: 22 random ones.
        return zone_id if zone_id.startswith("Z") else "Z" + zone_id[1:]

    return generate


def apply() -> str:
    Route53Backend.change_resource_record_sets = change_resource_record_sets
    wrap(HostedZoneIdentifier, "generate", _zone_id)
    return "route53-change-batches"
