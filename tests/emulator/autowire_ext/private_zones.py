"""Route 53 private hosted zones and the hosted-zone calls the consumer side makes.

Registered after `route53` and wraps moto's handlers (it does not change that module).

AWS behaviours added (Route 53 API reference for CreateHostedZone, ListHostedZonesByVPC,
DeleteHostedZone, ListTagsForResource; HTTP statuses from the service model):

- CreateHostedZone with `VPC` makes a *private* zone (`Config.PrivateZone: true`) associated
  with that VPC, whatever `HostedZoneConfig.PrivateZone` says (moto makes a public zone unless
  PrivateZone=true is sent, and then drops the VPC);
- the VPC must exist in the caller's account in `VPCRegion`, else `InvalidVPCId` (400) /
  `The VPC ID that you specified either isn't a valid ID or the current account is not
  authorized to access this VPC.` (the API reference's description of the error; the live
  message was not found);
- a CallerReference the account has used before (its zone may be deleted since: "You must
  use a unique CallerReference string every time you submit a CreateHostedZone request"):
  `HostedZoneAlreadyExists` (409) /
  `A hosted zone has already been created with the specified caller reference.`;
- a private zone whose name an existing private zone (any account) associated with the same
  VPC already has: `ConflictingDomainExists` (400) / `The VPC <vpc-id> in region <region>
  has already been associated with the hosted zone <zone-id> with the same domain name.`;
- ListHostedZonesByVPC lists the private zones, of any account, associated with that VPC *in
  that region* (moto ignores VPCRegion), with `Owner.OwningAccount`, `MaxItems` and
  `NextToken`; a VPC that is not the caller's lists nothing (AWS's answer is not documented);
- DeleteHostedZone refuses a zone holding any record set other than the SOA and NS record
  sets at its apex (an NS delegation below the apex counts as non-required):
  `HostedZoneNotEmpty` (400) /
  `The specified hosted zone contains non-required resource record sets and so cannot be deleted.`;
  a deleted zone's tags go with it;
- ListTagsForResource of an unknown hosted zone: `NoSuchHostedZone` (404) /
  `No hosted zone found with ID: <id>` (moto answers with an empty tag set).
"""

from __future__ import annotations

from typing import Any, Iterator

from moto.core.responses import ActionResult
from moto.route53.exceptions import InvalidPaginationToken, NoSuchHostedZone, Route53ClientError
from moto.route53.models import Route53Backend
from moto.route53.responses import Route53

from ._common import LOCK, wrap

CALLER_REFERENCE_MESSAGE = (
    "A hosted zone has already been created with the specified caller reference."
)
NOT_EMPTY_MESSAGE = (
    "The specified hosted zone contains non-required resource record sets and so cannot be deleted."
)
INVALID_VPC_MESSAGE = (
    "The VPC ID that you specified either isn't a valid ID or the current account is not "
    "authorized to access this VPC."
)


class HostedZoneAlreadyExists(Route53ClientError):
    code = "HostedZoneAlreadyExists"


class HostedZoneNotEmpty(Route53ClientError):
    code = "HostedZoneNotEmpty"


class InvalidVPCId(Route53ClientError):
    code = "InvalidVPCId"


class ConflictingDomainExists(Route53ClientError):
    code = "ConflictingDomainExists"


def norm(name: str | None) -> str:
    """A DNS name for comparison: lower case, without the final dot."""
    return (name or "").strip().lower().rstrip(".")


def bare_zone_id(zone_id: str) -> str:
    """`Z…` from `/hostedzone/Z…`."""
    return str(zone_id).rsplit("/", 1)[-1]


def rrset_type(rrset: Any) -> str:
    return str(getattr(rrset, "type_", None) or getattr(rrset, "type", "") or "").upper()


def _backends() -> Iterator[Any]:
    from moto.route53.models import route53_backends

    for _, partitions in list(route53_backends.items()):
        yield from list(dict.values(partitions))


def vpc_of(account_id: str, region: str | None, vpc_id: str | None) -> Any | None:
    """The caller's VPC, without making EC2 backends that do not exist yet."""
    if not region or not vpc_id:
        return None
    from moto.ec2.models import ec2_backends

    account = dict.get(ec2_backends, account_id)
    backend = dict.get(account, region) if account is not None else None
    return backend.vpcs.get(vpc_id) if backend is not None else None


def _associated(zone: Any, vpc_id: str, region: str) -> bool:
    return any(
        v.get("vpc_id") == vpc_id and v.get("vpc_region") == region for v in list(zone.vpcs)
    )


def _is_private(zone: Any) -> bool:
    return str(zone.private_zone).lower() == "true"


def _used_references(backend: Any) -> set[str]:
    return backend.__dict__.setdefault("_autowire_caller_references", set())


# ---------------------------------------------------------------- CreateHostedZone


def _create_hosted_zone(original):
    def create_hosted_zone(self):
        vpc = self._get_param("VPC") or {}
        vpc_id, region = vpc.get("VPCId"), vpc.get("VPCRegion")
        name = self._get_param("Name") or ""
        reference = self._get_param("CallerReference")
        with LOCK:
            used = _used_references(self.backend)
            if reference and (
                reference in used
                or any(z.caller_reference == reference for z in self.backend.zones.values())
            ):
                raise HostedZoneAlreadyExists(CALLER_REFERENCE_MESSAGE)
            if vpc_id or region:
                if vpc_of(self.current_account, region, vpc_id) is None:
                    raise InvalidVPCId(INVALID_VPC_MESSAGE)
                for backend in _backends():
                    for zone in list(backend.zones.values()):
                        if (
                            _is_private(zone)
                            and norm(zone.name) == norm(name)
                            and _associated(zone, vpc_id, region)
                        ):
                            raise ConflictingDomainExists(
                                f"The VPC {vpc_id} in region {region} has already been "
                                f"associated with the hosted zone {zone.resource_id} with the "
                                "same domain name."
                            )
                # AWS: a VPC in the request is what makes the zone private.
                config = self.params.get("HostedZoneConfig")
                if not isinstance(config, dict):
                    config = self.params["HostedZoneConfig"] = {}
                config["PrivateZone"] = "true"
            result = original(self)
            if reference:
                used.add(reference)
        return result

    return create_hosted_zone


# ---------------------------------------------------------------- ListHostedZonesByVPC


def list_hosted_zones_by_vpc(self) -> ActionResult:
    vpc_id = self._get_param("VPCId")
    region = self._get_param("VPCRegion")
    max_items = int(self._get_param("MaxItems") or 100)
    token = self._get_param("NextToken")
    summaries: list[dict[str, Any]] = []
    if vpc_of(self.current_account, region, vpc_id) is not None:
        for backend in _backends():
            for zone in list(backend.zones.values()):
                if _is_private(zone) and _associated(zone, vpc_id, region):
                    summaries.append(
                        {
                            "HostedZoneId": zone.resource_id,
                            "Name": zone.name,
                            "Owner": {"OwningAccount": backend.account_id},
                        }
                    )
    start = 0
    if token:
        if not token.isdigit() or int(token) > len(summaries):
            raise InvalidPaginationToken()
        start = int(token)
    result: dict[str, Any] = {
        "HostedZoneSummaries": summaries[start : start + max_items],
        "MaxItems": str(max_items),
    }
    if start + max_items < len(summaries):
        result["NextToken"] = str(start + max_items)
    return ActionResult(result)


# ---------------------------------------------------------------- DeleteHostedZone


def _required(zone: Any, rrset: Any) -> bool:
    """The SOA and NS record sets at the zone's apex: the ones Route 53 made with the zone."""
    return rrset_type(rrset) in ("SOA", "NS") and norm(rrset.name) == norm(zone.name)


def _delete_hosted_zone(original):
    def delete_hosted_zone(self, id_: str):
        with LOCK:
            zone = self.get_hosted_zone(id_)
            if any(not _required(zone, rrset) for rrset in list(zone.rrsets)):
                raise HostedZoneNotEmpty(NOT_EMPTY_MESSAGE)
            deleted = original(self, id_)
            self.resource_tags.pop(bare_zone_id(zone.id), None)
        return deleted

    return delete_hosted_zone


# ---------------------------------------------------------------- ListTagsForResource


def _list_tags_for_resource(original):
    def list_tags_for_resource(self):
        if self._get_param("ResourceType") == "hostedzone":
            zone_id = bare_zone_id(self._get_param("ResourceId") or "")
            if zone_id not in self.backend.zones:
                raise NoSuchHostedZone(zone_id)
        return original(self)

    return list_tags_for_resource


def apply() -> str:
    wrap(Route53, "create_hosted_zone", _create_hosted_zone)
    wrap(Route53Backend, "delete_hosted_zone", _delete_hosted_zone)
    wrap(Route53, "list_tags_for_resource", _list_tags_for_resource)
    Route53.list_hosted_zones_by_vpc = list_hosted_zones_by_vpc
    return "route53-private-zones"
