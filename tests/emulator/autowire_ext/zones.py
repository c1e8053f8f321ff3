"""Account-specific Availability Zone names.

AWS behaviour (EC2 User Guide, "AZ IDs for your AWS resources"): a zone *name* such as
us-east-1a is an alias that AWS maps independently for each account to a physical zone,
identified by its zone *ID* (use1-az1 ...). The same name can be a different zone in
another account; the ID is the same everywhere. moto uses one global name->ID table.

Here each account gets its own table: moto's default IDs for the region, rotated by
`int(account_id) % len(zones)`. Names keep their order, so name[i] -> id[(i + k) % n].
Every EC2 code path that hands out zones goes through `zones_for`: DescribeAvailabilityZones,
CreateSubnet (by AvailabilityZone or AvailabilityZoneId), the default VPC's subnets, and so
DescribeSubnets, NLB AvailabilityZones and endpoint-service AvailabilityZones.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import InvalidAvailabilityZoneError
from moto.ec2.models import EC2Backend
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend, Zone
from moto.ec2.models.subnets import SubnetBackend

from ._common import LOCK, wrap

_cache: dict[tuple[str, str], list[Zone]] = {}


def rotation(account_id: str, region: str) -> int:
    base = RegionsAndZonesBackend.zones.get(region, [])
    if not base or not account_id.isdigit():
        return 0
    return int(account_id) % len(base)


def zones_for(account_id: str, region: str) -> list[Zone]:
    """This account's zones in `region` (stable objects: subnets keep references to them)."""
    key = (account_id, region)
    with LOCK:
        zones = _cache.get(key)
        if zones is None:
            base = RegionsAndZonesBackend.zones.get(region, [])
            k = rotation(account_id, region)
            ids = [z.zone_id for z in base]
            zones = [
                Zone(
                    name=z.name,
                    region_name=z.region_name,
                    zone_id=ids[(i + k) % len(ids)],
                    zone_type=z.zone_type,
                )
                for i, z in enumerate(base)
            ]
            _cache[key] = zones
        return zones


def name_to_id(account_id: str, region: str, name: str) -> str | None:
    for z in zones_for(account_id, region):
        if z.name == name:
            return z.zone_id
    return None


def id_to_name(account_id: str, region: str, zone_id: str) -> str | None:
    for z in zones_for(account_id, region):
        if z.zone_id == zone_id:
            return z.name
    return None


class _AccountZones:
    """Stands in for moto's class-level {region: [Zone]} table, per backend instance."""

    def __init__(self, account_id: str):
        self.account_id = account_id

    def get(self, region: str, default: Any = None) -> Any:
        if region not in RegionsAndZonesBackend.zones:
            return default
        return zones_for(self.account_id, region)

    def __getitem__(self, region: str) -> list[Zone]:
        return zones_for(self.account_id, region)

    def __contains__(self, region: object) -> bool:
        return region in RegionsAndZonesBackend.zones

    def keys(self):
        return RegionsAndZonesBackend.zones.keys()

    def values(self):
        return [zones_for(self.account_id, r) for r in RegionsAndZonesBackend.zones]

    def items(self):
        return [(r, zones_for(self.account_id, r)) for r in RegionsAndZonesBackend.zones]


def _create_subnet(original):
    def create_subnet(
        self,
        vpc_id: str,
        cidr_block: str,
        ipv6_cidr_block: str | None = None,
        availability_zone: str | None = None,
        availability_zone_id: str | None = None,
        ipv6_native: bool = False,
        tags: Any = None,
    ):
        zones = zones_for(self.account_id, self.region_name)
        if availability_zone:
            zone = next((z for z in zones if z.name == availability_zone), None)
        elif availability_zone_id:
            zone = next((z for z in zones if z.zone_id == availability_zone_id), None)
        else:
            # AWS picks a zone for you; take the first one of this account.
            zone = zones[0] if zones else None
        if zone is None:
            raise InvalidAvailabilityZoneError(
                availability_zone or availability_zone_id,
                ", ".join(z.name for z in zones),
            )
        # moto resolves the name in its global table (right name, possibly wrong ID) and
        # files the subnet under the name; then we attach this account's zone object.
        subnet = original(
            self,
            vpc_id,
            cidr_block,
            ipv6_cidr_block=ipv6_cidr_block,
            availability_zone=zone.name,
            availability_zone_id=None,
            ipv6_native=ipv6_native,
            tags=tags,
        )
        subnet._availability_zone = zone
        return subnet

    return create_subnet


def apply() -> str:
    # DescribeAvailabilityZones (and everything that lists zones through the backend)
    # reads `self.zones`: give every EC2 backend its account's table.
    EC2Backend.zones = property(lambda self: _AccountZones(self.account_id))
    wrap(SubnetBackend, "create_subnet", _create_subnet)
    return "account-specific-az-names"
