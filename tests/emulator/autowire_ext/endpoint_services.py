"""VPC endpoint services (AWS PrivateLink, provider side) as AWS documents them.

Patches moto's VPCServiceConfiguration and the EC2 responses that show it:

- ids look like AWS's (`vpce-svc-` + 17 hex digits);
- AvailabilityZones are the zones of the NLBs' subnets (names in the provider's account),
  recomputed when NLBs are added or removed; AvailabilityZoneIds come with them;
- visibility across accounts: DescribeVpcEndpointServices shows a service to another account
  only if its allowed principals (ModifyVpcEndpointServicePermissions) include
  `arn:aws:iam::<acct>:root` or `*`, and shows its zones under the *caller's* zone names;
  naming an invisible or unknown service is `InvalidServiceName`;
- DescribeVpcEndpointServicePermissions returns AWS's AllowedPrincipal shape;
- private DNS names need domain ownership verification (PrivateDnsNameConfiguration, a TXT
  record in a public hosted zone, StartVpcEndpointServicePrivateDnsVerification), and
  RemovePrivateDnsName clears the name;
- DeleteVpcEndpointServiceConfigurations refuses a service that still has endpoint
  connections in pendingAcceptance / pending / available, as an Unsuccessful item with code
  `ExistingVpcEndpointConnections`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidNextToken, InvalidServiceName, UnknownVpcEndpointService
from moto.ec2.models.vpc_service_configuration import VPCServiceConfiguration
from moto.ec2.models.vpcs import MAX_NUMBER_OF_ENDPOINT_SERVICES_RESULTS, VPCBackend
from moto.ec2.responses import EC2Response

from . import route53, zones
from ._common import (
    ALNUM,
    LOCK,
    LOWER_ALNUM,
    all_service_configs,
    ec2_error,
    endpoints_of_service,
    principal_allows_account,
    rand_hex,
    rand_str,
    wrap,
)

# Endpoint states that keep a service from being deleted (AWS PrivateLink: "You can't delete
# an endpoint service if there are endpoints connected ... in the available or
# pending-acceptance state"; `pending` is the step between acceptance and available).
CONNECTED_STATES = ("pendingAcceptance", "pending", "available")

EXISTING_CONNECTIONS_MESSAGE = "Service has existing active VPC Endpoint connections!"


# ---------------------------------------------------------------- private DNS verification


class PrivateDnsName:
    """A service's private DNS name and its domain-ownership verification (AWS PrivateLink,
    "Manage DNS names for VPC endpoint services"): AWS gives a TXT record name and value;
    the provider publishes `<Name>.<domain>` TXT `<Value>` in a public hosted zone, where
    domain is the private DNS name or a parent domain of it, then asks for verification. AWS
    looks the record up in public DNS, so a zone its parent does not delegate to does not count."""

    def __init__(self, name: str):
        self.name = name
        self.record_name = "_" + rand_str(20, LOWER_ALNUM)
        self.record_value = "vpce:" + rand_str(20, ALNUM)
        self.state = "pendingVerification"
        self.due: float | None = None

    def start_verification(self) -> None:
        delay = float(os.environ.get("AUTOWIRE_EMULATOR_VERIFY_DELAY_S", "0") or 0)
        self.state = "pendingVerification"
        self.due = time.monotonic() + delay

    def refresh(self) -> str:
        """Settles a started verification once its time has come (AWS verifies asynchronously)."""
        with LOCK:
            if self.due is not None and time.monotonic() >= self.due:
                self.due = None
                self.state = "verified" if self._record_published() else "failed"
            return self.state

    def candidate_record_names(self) -> list[str]:
        domain = self.name.lower().rstrip(".")
        if domain.startswith("*."):
            domain = domain[2:]
        labels = domain.split(".")
        return [f"{self.record_name}.{'.'.join(labels[i:])}" for i in range(0, len(labels) - 1)]

    def _record_published(self) -> bool:
        wanted = set(self.candidate_record_names())
        return any(
            name in wanted and self.record_value in values for name, values in public_txt_records()
        )

    def configuration(self) -> dict[str, str]:
        return {
            "State": self.refresh(),
            "Type": "TXT",
            "Value": self.record_value,
            "Name": self.record_name,
        }


def public_txt_records():
    """(name, [values]) of every TXT record public DNS answers: those in public Route 53 zones
    of any account that are delegated (an undelegated zone is invisible to the resolver AWS
    uses; see route53.resolvable_zones)."""
    for name, values, _ in route53.public_records("TXT"):
        yield name, [value.strip().strip('"') for value in values]


def pdns_of(config: Any) -> PrivateDnsName | None:
    return config.__dict__.get("autowire_pdns")


def set_private_dns_name(config: Any, name: str | None) -> None:
    with LOCK:
        current = pdns_of(config)
        if not name:
            config.__dict__["autowire_pdns"] = None
        elif current is None or current.name != name:
            config.__dict__["autowire_pdns"] = PrivateDnsName(name)


def verified_private_dns_name(config: Any) -> str | None:
    pdns = pdns_of(config)
    if pdns is not None and pdns.refresh() == "verified":
        return pdns.name
    return None


# ---------------------------------------------------------------- the service model


def owner_of(config: Any) -> str:
    return config.ec2_backend.account_id


def region_of(config: Any) -> str:
    return config.ec2_backend.region_name


def visible_to(config: Any, account_id: str) -> bool:
    return owner_of(config) == account_id or any(
        principal_allows_account(p, account_id) for p in config.principals
    )


def _load_balancers(config: Any) -> list[Any]:
    backend = config.elbv2_backend_for_autowire
    arns = list(config.network_load_balancer_arns) + list(config.gateway_load_balancer_arns)
    return [backend.load_balancers[a] for a in arns if a in backend.load_balancers]


def _zone_names(config: Any) -> list[str]:
    fallback = config.__dict__.setdefault("_autowire_az_fallback", [])
    if "ec2_backend" not in config.__dict__:
        return fallback  # still inside moto's __init__, which appends to this list
    lbs = _load_balancers(config)
    if not lbs:
        return sorted(set(fallback))
    return sorted({s.availability_zone for lb in lbs for s in lb.subnets})


def zone_ids(config: Any) -> list[str]:
    """The service's zones as AZ IDs (provider's names through the provider's map)."""
    owner, region = owner_of(config), region_of(config)
    return sorted({zid for n in _zone_names(config) if (zid := zones.name_to_id(owner, region, n))})


def _tags(config: Any) -> list[dict[str, str]]:
    return [{"Key": t["key"], "Value": t["value"]} for t in config.get_tags()]


def service_detail(config: Any, caller: str) -> dict[str, Any]:
    """DescribeVpcEndpointServices' ServiceDetail, as `caller` sees it (its own zone names)."""
    region = region_of(config)
    ids = zone_ids(config)
    detail: dict[str, Any] = {
        "ServiceName": config.service_name,
        "ServiceId": config.id,
        "ServiceType": [{"ServiceType": "Interface"}],
        "ServiceRegion": region,
        "AvailabilityZoneIds": ids,
        "AvailabilityZones": sorted(n for i in ids if (n := zones.id_to_name(caller, region, i))),
        "Owner": owner_of(config),
        "BaseEndpointDnsNames": [config.endpoint_dns_name],
        "VpcEndpointPolicySupported": True,
        "AcceptanceRequired": bool(config.acceptance_required),
        "ManagesVpcEndpoints": False,
        "SupportedIpAddressTypes": ["ipv4"],
        # Tags are the owner's business; other accounts do not see them.
        "Tags": _tags(config) if owner_of(config) == caller else [],
    }
    pdns = pdns_of(config)
    if pdns is not None:
        detail["PrivateDnsName"] = pdns.name
        detail["PrivateDnsNames"] = [{"PrivateDnsName": pdns.name}]
        detail["PrivateDnsNameVerificationState"] = pdns.refresh()
    return detail


def _patch_model() -> None:
    cls = VPCServiceConfiguration
    original_init = cls.__init__

    def __init__(self, load_balancers, region, acceptance_required, private_dns_name, *a, **k):
        original_init(self, load_balancers, region, acceptance_required, private_dns_name, *a, **k)
        # AWS ids: vpce-svc- followed by 17 hex digits.
        self.id = f"vpce-svc-{rand_hex(17)}"
        self.service_name = f"com.amazonaws.vpce.{region}.{self.id}"
        self.endpoint_dns_name = f"{self.id}.{region}.vpce.amazonaws.com"
        # moto takes the query string's "true"/"false" as is.
        self.acceptance_required = str(acceptance_required).lower() == "true"

    cls.__init__ = __init__

    # The zones of the service are those of its load balancers' subnets, always current.
    def _set_zones(self, value):
        self.__dict__["_autowire_az_fallback"] = list(value or [])

    cls.availability_zones = property(_zone_names, _set_zones)
    cls.availability_zone_ids = property(zone_ids)

    def _elbv2(self):
        from moto.elbv2.models import elbv2_backends

        return elbv2_backends[self.ec2_backend.account_id][self.ec2_backend.region_name]

    cls.elbv2_backend_for_autowire = property(_elbv2)

    def _get_pdns_name(self):
        pdns = pdns_of(self)
        return pdns.name if pdns is not None else None

    cls.private_dns_name = property(_get_pdns_name, set_private_dns_name)

    def _pdns_configuration(self):
        pdns = pdns_of(self)
        return pdns.configuration() if pdns is not None else None

    cls.private_dns_name_configuration = property(_pdns_configuration)
    cls.supported_ip_address_types = ["ipv4"]

    def to_dict(self):  # moto's own describe path; keep it coherent for the owner
        return service_detail(self, owner_of(self))

    cls.to_dict = to_dict


# ---------------------------------------------------------------- DescribeVpcEndpointServices


def _normalise_filters(filters: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for f in filters or []:
        values = list(f.get("Values") or f.get("Value") or [])
        out.append({"Name": f.get("Name"), "Values": values, "Value": values})
    return out


def _describe_vpc_endpoint_services(self, service_names, filters, max_results, next_token, region):
    """AWS services plus every endpoint service this account may use, in its zone names."""
    caller = self.account_id
    services = [
        service_detail(c, caller) for c in all_service_configs(region) if visible_to(c, caller)
    ]
    custom_names = {s["ServiceName"] for s in services}
    if not service_names or not set(service_names) <= custom_names:
        # moto's catalogue of AWS services is slow to build the first time: skip it when
        # the request only names endpoint services (it could not match any of them).
        services = list(self._collect_default_endpoint_services(caller, region)) + services
    known = {s["ServiceName"] for s in services}
    for name in service_names or []:
        if name not in known:
            raise InvalidServiceName(name)

    selected = sorted(
        self._filter_endpoint_services(service_names, _normalise_filters(filters), services),
        key=lambda s: s["ServiceName"],
    )
    start = 0
    if next_token:
        ids = [s["ServiceId"] for s in selected]
        if next_token not in ids:
            raise InvalidNextToken(next_token)
        start = ids.index(next_token)
    size = (
        max_results
        if max_results and 0 < max_results <= 1000
        else MAX_NUMBER_OF_ENDPOINT_SERVICES_RESULTS
    )
    page = selected[start : start + size]
    following = selected[start + size] if len(selected) > start + size else None
    return {
        "servicesDetails": page,
        "serviceNames": [s["ServiceName"] for s in page],
        "nextToken": following["ServiceId"] if following else None,
    }


# ---------------------------------------------------------------- responses


def _own_config(response: Any, service_id: str) -> Any:
    config = response.ec2_backend.configurations.get(service_id)
    if config is None:
        raise UnknownVpcEndpointService(service_id)
    return config


def _principal_type(principal: str) -> str:
    if principal == "*":
        return "All"
    if principal.endswith(":root") or principal.isdigit():
        return "Account"
    if ":role/" in principal:
        return "Role"
    if ":user/" in principal:
        return "User"
    if principal.endswith(".amazonaws.com"):
        return "Service"
    return "Account"


def describe_vpc_endpoint_service_permissions(self) -> ActionResult:
    config = _own_config(self, self._get_param("ServiceId"))
    with LOCK:
        ids = config.__dict__.setdefault("_autowire_permission_ids", {})
        allowed = []
        for principal in sorted(config.principals):
            pid = ids.setdefault(principal, f"vpce-svc-perm-{rand_hex(17)}")
            allowed.append(
                {
                    "PrincipalType": _principal_type(principal),
                    "Principal": principal,
                    "ServicePermissionId": pid,
                    "ServiceId": config.id,
                    "Tags": [],
                }
            )
    return ActionResult({"AllowedPrincipals": allowed})


def _modify_configuration(original):
    def modify_vpc_endpoint_service_configuration(self) -> ActionResult:
        # RemovePrivateDnsName=true drops the name and its verification (moto ignores it).
        service_id = self._get_param("ServiceId")
        remove = str(self._get_param("RemovePrivateDnsName", False)).lower() == "true"
        result = original(self)
        if remove:
            set_private_dns_name(_own_config(self, service_id), None)
        return result

    return modify_vpc_endpoint_service_configuration


def start_vpc_endpoint_service_private_dns_verification(self) -> ActionResult:
    """Starts the TXT-record check; its outcome shows up after AUTOWIRE_EMULATOR_VERIFY_DELAY_S."""
    service_id = self._get_param("ServiceId")
    config = _own_config(self, service_id)
    pdns = pdns_of(config)
    if pdns is None:
        raise ec2_error(
            "InvalidParameter",
            f"The VPC endpoint service {service_id} does not have a private DNS name.",
        )
    with LOCK:
        pdns.start_verification()
    return ActionResult({"ReturnValue": True})


def delete_vpc_endpoint_service_configurations(self) -> ActionResult:
    unsuccessful = []
    for service_id in self._get_param("ServiceIds", []):
        config = self.ec2_backend.configurations.get(service_id)
        if config is None:
            unsuccessful.append(
                {
                    "ResourceId": service_id,
                    "Error": {
                        "Code": "InvalidVpcEndpointService.NotFound",
                        "Message": f"The VpcEndpointService Id '{service_id}' does not exist",
                    },
                }
            )
            continue
        if any(e.state in CONNECTED_STATES for e in endpoints_of_service(config)):
            unsuccessful.append(
                {
                    "ResourceId": service_id,
                    "Error": {
                        "Code": "ExistingVpcEndpointConnections",
                        "Message": EXISTING_CONNECTIONS_MESSAGE,
                    },
                }
            )
            continue
        self.ec2_backend.configurations.pop(service_id, None)
    return ActionResult({"Unsuccessful": unsuccessful})


def apply() -> str:
    _patch_model()
    VPCBackend.describe_vpc_endpoint_services = _describe_vpc_endpoint_services
    wrap(EC2Response, "modify_vpc_endpoint_service_configuration", _modify_configuration)
    for handler in (
        describe_vpc_endpoint_service_permissions,
        start_vpc_endpoint_service_private_dns_verification,
        delete_vpc_endpoint_service_configurations,
    ):
        setattr(EC2Response, handler.__name__, handler)
    return "endpoint-services"
