"""Interface VPC endpoints to endpoint services (AWS PrivateLink, consumer side), and the
provider's view of them as endpoint connections.

AWS behaviours added (EC2 API reference for CreateVpcEndpoint, ModifyVpcEndpoint,
AcceptVpcEndpointConnections, RejectVpcEndpointConnections, DescribeVpcEndpointConnections;
PrivateLink guide "Accept or reject connection requests"):

- the service must exist and be visible to the caller, else `InvalidServiceName`;
- every subnet must be in a zone the service supports, compared by AZ ID (the provider's
  zone names map through the provider's account, the subnet's through the consumer's),
  else `InvalidParameter`; at most one subnet per zone, else `DuplicateSubnetsInSameZone`
  (ModifyVpcEndpoint AddSubnetIds checks the same);
- PrivateDnsEnabled=true needs a *verified* private DNS name on the service, and a VPC with
  enableDnsSupport and enableDnsHostnames;
- with AcceptanceRequired the endpoint starts `pendingAcceptance`, else `available`; the
  service owner accepts (-> available) or rejects (-> rejected) it;
- ClientToken makes CreateVpcEndpoint idempotent (EC2 "Ensuring idempotency");
- realistic DnsEntries: regional name, one zonal name per subnet, then the private DNS name;
- deletion takes time: DeleteVpcEndpoints leaves the endpoint `deleting` (network interfaces
  and their security groups still in place) for AUTOWIRE_EMULATOR_ENDPOINT_DELETE_DELAY_S
  seconds (default 1), then `deleted`; a `deleted` or unknown ID is an Unsuccessful item
  `InvalidVpcEndpoint.NotFound`;
- ModifyVpcEndpoint Add/RemoveSecurityGroupIds reach the endpoint's network interfaces, and
  groups must exist in the endpoint's VPC (`InvalidGroup.NotFound`); a `deleted` endpoint is
  not found, a `deleting` one can't be modified;
- DescribeVpcEndpoints filters: the ones AWS documents, others `InvalidParameterValue`;
  an unknown ID: `InvalidVpcEndpointId.NotFound` / `The Vpc Endpoint Id '<id>' does not exist`.

Each new endpoint to a service (Connect), acceptance (Accept), rejection (Reject) and
deletion (Delete) is announced to the connection listeners of _common (the service's
connection notifications publish it: connection_notifications).

Endpoints to AWS's own services (com.amazonaws.<region>.s3 ...) keep moto's behaviour.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidFilter,
    InvalidSecurityGroupNotFoundError,
    InvalidServiceName,
    InvalidVpcEndPointIdError,
)
from moto.ec2.models.vpcs import VPCEndPoint
from moto.ec2.responses import EC2Response
from moto.ec2.utils import add_tag_specification, random_private_ip

from ._common import (
    LOCK,
    LOWER_ALNUM,
    announce_connection_event,
    ec2_error,
    endpoints_of_service,
    filtered,
    find_service_by_id,
    find_service_by_name,
    page,
    rand_hex,
    rand_str,
    remember_token,
    token_resource,
    wrap,
)
from .endpoint_services import (
    _own_config,
    verified_private_dns_name,
    visible_to,
    zone_ids,
)

# Route 53 zone that holds the vpce.amazonaws.com names in us-east-1; other regions get a
# stable stand-in of the same shape.
_VPCE_ZONE = {"us-east-1": "Z7HUB22UULQXV"}


def _vpce_zone(region: str) -> str:
    return _VPCE_ZONE.get(region) or "Z" + hashlib.sha256(region.encode()).hexdigest()[:12].upper()


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    return str(value).lower() == "true"


def _service_of(endpoint: Any) -> Any | None:
    service_id = getattr(endpoint, "autowire_service_id", None)
    if not service_id:
        return None
    return find_service_by_id(endpoint.ec2_backend.region_name, service_id)


def _check_subnets(service_name: str, config: Any, subnets: list[Any]) -> None:
    supported = set(zone_ids(config))
    for subnet in subnets:
        if subnet.availability_zone_id not in supported:
            raise ec2_error(
                "InvalidParameter",
                f"The VPC endpoint service {service_name} does not support the availability "
                f"zone of the subnet: {subnet.id}.",
            )
    first_in_zone: dict[str, str] = {}
    for subnet in subnets:
        zone = subnet.availability_zone_id
        if zone in first_in_zone:
            raise ec2_error(
                "DuplicateSubnetsInSameZone",
                f"Found another VPC endpoint subnet in the availability zone of {first_in_zone[zone]}",
            )
        first_in_zone[zone] = subnet.id


def _check_private_dns(service_name: str, config: Any, vpc: Any, requested: bool | None) -> bool:
    """The endpoint's effective PrivateDnsEnabled; raises as AWS does when it can't be on."""
    verified = verified_private_dns_name(config)
    if requested is True and not verified:
        raise ec2_error(
            "InvalidParameter",
            f"Private DNS can't be enabled because the service {service_name} does not "
            "provide a private DNS name.",
        )
    # Not sent: AWS's documented default is true, which only has an effect when the service
    # has a verified private DNS name.
    enabled = requested if requested is not None else bool(verified)
    if enabled and not (_flag(vpc.enable_dns_support) and _flag(vpc.enable_dns_hostnames)):
        raise ec2_error(
            "InvalidParameter",
            "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC "
            f"attributes set to true for {vpc.id}",
        )
    return enabled


def _refresh_dns_entries(endpoint: Any, config: Any) -> None:
    backend = endpoint.ec2_backend
    region = backend.region_name
    prefix = endpoint.__dict__.setdefault(
        "_autowire_dns_prefix", f"{endpoint.id}-{rand_str(8, LOWER_ALNUM)}"
    )
    zone = _vpce_zone(region)
    base = f"{config.id}.{region}.vpce.amazonaws.com"
    entries = [{"DnsName": f"{prefix}.{base}", "HostedZoneId": zone}]
    for subnet_id in endpoint.subnet_ids or []:
        subnet = backend.get_subnet(subnet_id)
        entries.append(
            {"DnsName": f"{prefix}-{subnet.availability_zone}.{base}", "HostedZoneId": zone}
        )
    if endpoint.private_dns_enabled:
        name = verified_private_dns_name(config)
        if name:
            phz = endpoint.__dict__.setdefault(
                "_autowire_private_zone", "Z" + rand_str(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            )
            entries.append({"DnsName": name, "HostedZoneId": phz})
    endpoint.dns_entries = entries


def _check_groups(backend: Any, vpc_id: str, group_ids: list[str]) -> None:
    """Each group must exist in the endpoint's VPC (EC2 error codes, InvalidGroup.NotFound:
    "You can't specify a security group that is in a different AWS Region or VPC")."""
    for group_id in group_ids:
        group = backend.get_security_group_from_id(group_id)
        if group is None:
            raise InvalidSecurityGroupNotFoundError(group_id)
        if group.vpc_id != vpc_id:
            raise ec2_error(
                "InvalidGroup.NotFound",
                f"The security group '{group_id}' does not exist in VPC '{vpc_id}'",
            )


def _sync_eni_groups(backend: Any, endpoint: Any) -> None:
    """The endpoint's network interfaces carry exactly the endpoint's security groups."""
    groups = [backend.get_security_group_from_id(g) for g in endpoint.security_group_ids]
    for eni_id in endpoint.network_interface_ids or []:
        eni = backend.enis.get(eni_id)
        if eni is not None:
            eni._group_set = [g for g in groups if g is not None]


def _endpoint_eni(backend: Any, endpoint: Any, subnet_id: str) -> Any:
    """The endpoint's network interface in a subnet, as AWS makes it: an address from the
    subnet's range, the endpoint's security groups, requester-managed, type vpc_endpoint."""
    subnet = backend.get_subnet(subnet_id)
    eni = backend.create_network_interface(
        subnet,
        random_private_ip(subnet.cidr_block),
        group_ids=list(endpoint.security_group_ids),
        description=f"VPC Endpoint Interface {endpoint.id}",
    )
    eni.interface_type = "vpc_endpoint"
    eni.requester_managed = True
    return eni


def _create_interface_endpoint(response: Any, config: Any, service_name: str) -> Any:
    backend = response.ec2_backend
    caller = backend.account_id
    if config is None or not visible_to(config, caller):
        raise InvalidServiceName(service_name)

    vpc_id = response._get_param("VpcId")
    vpc = backend.get_vpc(vpc_id)
    endpoint_type = response._get_param("VpcEndpointType") or "Gateway"
    if endpoint_type != "Interface":
        raise ec2_error(
            "InvalidParameter",
            f"The VPC endpoint service {service_name} does not support the VPC endpoint "
            f"type {endpoint_type}.",
        )
    subnets = [backend.get_subnet(s) for s in response._get_param("SubnetIds", [])]
    _check_subnets(service_name, config, subnets)
    private_dns = _check_private_dns(
        service_name, config, vpc, _flag(response._get_param("PrivateDnsEnabled"))
    )

    group_ids = list(response._get_param("SecurityGroupIds", []))
    _check_groups(backend, vpc_id, group_ids)
    if not group_ids:
        # AWS: without security groups the endpoint gets the VPC's default group.
        default = backend.get_default_security_group(vpc_id)
        group_ids = [default.id] if default is not None else []

    endpoint = backend.create_vpc_endpoint(
        vpc_id=vpc_id,
        service_name=service_name,
        endpoint_type="Interface",
        policy_document=response._get_param("PolicyDocument"),
        route_table_ids=[],
        subnet_ids=[s.id for s in subnets],
        client_token=response._get_param("ClientToken"),
        security_group_ids=group_ids,
        tags=add_tag_specification(response._get_param("TagSpecifications", [])),
        private_dns_enabled=private_dns,
    )
    # moto's own interfaces take addresses from anywhere: replace them.
    for eni_id in endpoint.network_interface_ids:
        backend.enis.pop(eni_id, None)
    endpoint.network_interface_ids = [_endpoint_eni(backend, endpoint, s.id).id for s in subnets]
    endpoint.autowire_service_id = config.id
    endpoint.autowire_connection_id = f"vpce-con-{rand_hex(17)}"
    endpoint.state = "pendingAcceptance" if config.acceptance_required else "available"
    endpoint.ip_address_type = "ipv4"
    endpoint.dns_options = {"DnsRecordIpType": "ipv4"}
    endpoint.requester_managed = False
    _refresh_dns_entries(endpoint, config)
    return endpoint


def _create_vpc_endpoint(original):
    def create_vpc_endpoint(self) -> ActionResult:
        service_name = self._get_param("ServiceName") or ""
        config = find_service_by_name(self.region, service_name)
        if config is None and not service_name.startswith("com.amazonaws.vpce."):
            return original(self)  # an AWS service: moto as is

        token = self._get_param("ClientToken")
        with LOCK:
            known = token_resource(self, "vpc-endpoint")
            if known is not None:
                endpoint = self.ec2_backend.vpc_end_points[known]
                return ActionResult({"VpcEndpoint": endpoint, "ClientToken": token})
            endpoint = _create_interface_endpoint(self, config, service_name)
            remember_token(self, "vpc-endpoint", endpoint.id)
        announce_connection_event(config, endpoint, "Connect")
        result: dict[str, Any] = {"VpcEndpoint": endpoint}
        if token:
            result["ClientToken"] = token
        return ActionResult(result)

    return create_vpc_endpoint


def _modify_vpc_endpoint(original):
    def modify_vpc_endpoint(self) -> ActionResult:
        backend = self.ec2_backend
        endpoint = backend.get_vpc_end_point(self._get_param("VpcEndpointId"))
        if endpoint.state == "deleted":
            raise InvalidVpcEndPointIdError(endpoint.id)
        if endpoint.state == "deleting":
            # Emulator wording: AWS's message for modifying an endpoint being deleted was not found.
            raise ec2_error(
                "IncorrectState",
                f"The VPC endpoint {endpoint.id} is in state deleting and can't be modified.",
            )
        _check_groups(backend, endpoint.vpc_id, list(self._get_param("AddSecurityGroupIds", [])))
        config = _service_of(endpoint)
        if config is None:
            with LOCK:
                result = original(self)
                _sync_eni_groups(backend, endpoint)
            return result

        add = list(self._get_param("AddSubnetIds", []))
        remove = list(self._get_param("RemoveSubnetIds", []))
        with LOCK:
            kept = [s for s in endpoint.subnet_ids or [] if s not in remove]
            added = [s for s in add if s not in kept]
            _check_subnets(
                endpoint.service_name, config, [backend.get_subnet(s) for s in kept + added]
            )
            requested = _flag(self._get_param("PrivateDnsEnabled"))
            if requested is not None:
                endpoint.private_dns_enabled = _check_private_dns(
                    endpoint.service_name, config, backend.get_vpc(endpoint.vpc_id), requested
                )
            result = original(self)
            # One endpoint network interface per subnet, as AWS keeps them.
            for eni_id in list(endpoint.network_interface_ids):
                eni = backend.enis.get(eni_id)
                if eni is not None and eni.subnet.id in remove:
                    backend.enis.pop(eni_id, None)
                    endpoint.network_interface_ids.remove(eni_id)
            for subnet_id in added:
                endpoint.network_interface_ids.append(
                    _endpoint_eni(backend, endpoint, subnet_id).id
                )
            _sync_eni_groups(backend, endpoint)
            _refresh_dns_entries(endpoint, config)
        return result

    return modify_vpc_endpoint


# ---------------------------------------------------------------- deletion takes time

DELETE_DELAY_ENV = "AUTOWIRE_EMULATOR_ENDPOINT_DELETE_DELAY_S"
DEFAULT_DELETE_DELAY_S = 1.0

# Endpoints on their way out: id -> (endpoint, monotonic time it turns `deleted`).
_deleting: dict[str, tuple[Any, float]] = {}


def delete_delay() -> float:
    raw = os.environ.get(DELETE_DELAY_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_DELETE_DELAY_S
    try:
        return max(0.0, float(raw))
    except ValueError:
        return DEFAULT_DELETE_DELAY_S


def _finish_deletion(endpoint: Any) -> None:
    # moto's own deletion: the interfaces (or gateway routes) go, the state turns `deleted`.
    # (moto keeps no type for an endpoint created without VpcEndpointType; AWS's default is
    # Gateway, and moto's deletion needs one.)
    endpoint.vpc_endpoint_type = endpoint.vpc_endpoint_type or "Gateway"
    endpoint.ec2_backend.delete_vpc_endpoints(vpce_ids=[endpoint.id])


def settle_deletions() -> None:
    """Endpoints whose deletion time has come turn `deleted` (AWS deletes asynchronously)."""
    if not _deleting:
        return
    now = time.monotonic()
    with LOCK:
        for endpoint_id, (endpoint, due) in list(_deleting.items()):
            if now >= due:
                del _deleting[endpoint_id]
                _finish_deletion(endpoint)


def _not_found(endpoint_id: str) -> dict[str, Any]:
    return {
        "ResourceId": endpoint_id,
        "Error": {
            "Code": "InvalidVpcEndpoint.NotFound",
            # Emulator wording: AWS documents the code for Unsuccessful items, not the message.
            "Message": f"The VpcEndpoint Id '{endpoint_id}' does not exist",
        },
    }


def delete_vpc_endpoints(self) -> ActionResult:
    """Unknown and already `deleted` IDs come back as Unsuccessful items, as AWS reports them
    (moto drops unknown ones and "deletes" a deleted one again). The others turn `deleting`
    and, after the delay, `deleted`; one already `deleting` stays on its way."""
    unsuccessful, deleted = [], []
    delay = delete_delay()
    with LOCK:
        for endpoint_id in self._get_param("VpcEndpointIds", []):
            endpoint = self.ec2_backend.vpc_end_points.get(endpoint_id)
            if endpoint is None or endpoint.state == "deleted":
                unsuccessful.append(_not_found(endpoint_id))
                continue
            if endpoint.state == "deleting":
                continue
            deleted.append(endpoint)
            if delay <= 0:
                _finish_deletion(endpoint)
            else:
                endpoint.state = "deleting"
                _deleting[endpoint.id] = (endpoint, time.monotonic() + delay)
    _announce_deleted(deleted)
    return ActionResult({"Unsuccessful": unsuccessful})


def _announce_deleted(endpoints: list[Any]) -> None:
    for endpoint in endpoints:
        config = _service_of(endpoint)
        if config is not None:
            announce_connection_event(config, endpoint, "Delete")


def _call_action(original):
    def call_action(self):
        settle_deletions()
        return original(self)

    return call_action


# DescribeVpcEndpoints filters (EC2 API reference); anything else is refused as AWS does.
_ENDPOINT_FILTERS = (
    "ip-address-type",
    "service-name",
    "service-region",
    "tag-key",
    "vpc-id",
    "vpc-endpoint-id",
    "vpc-endpoint-state",
    "vpc-endpoint-type",
)


def _describe_vpc_endpoints(original):
    def describe_vpc_endpoints(self) -> ActionResult:
        for f in self._get_param("Filters", []) or []:
            name = f.get("Name") or ""
            if name not in _ENDPOINT_FILTERS and not name.startswith("tag:"):
                raise InvalidFilter(name, error_type="InvalidParameterValue")
        return original(self)

    return describe_vpc_endpoints


def _endpoint_id_not_found(original):
    def __init__(self, vpc_end_point_id: str) -> None:
        # AWS: "The Vpc Endpoint Id 'vpce-...' does not exist" (moto: "The VpcEndPoint ID ...").
        EC2ClientError.__init__(
            self,
            "InvalidVpcEndpointId.NotFound",
            f"The Vpc Endpoint Id '{vpc_end_point_id}' does not exist",
        )

    return __init__


# ---------------------------------------------------------------- provider side: connections


def _connection(config: Any, endpoint: Any) -> dict[str, Any]:
    return {
        "ServiceId": config.id,
        "VpcEndpointId": endpoint.id,
        "VpcEndpointOwner": endpoint.ec2_backend.account_id,
        "VpcEndpointState": endpoint.state,
        "CreationTimestamp": endpoint.creation_timestamp,
        "DnsEntries": [
            e for e in endpoint.dns_entries or [] if "vpce.amazonaws.com" in e["DnsName"]
        ],
        "NetworkLoadBalancerArns": list(config.network_load_balancer_arns),
        "GatewayLoadBalancerArns": list(config.gateway_load_balancer_arns) or None,
        "IpAddressType": "ipv4",
        "VpcEndpointConnectionId": endpoint.autowire_connection_id,
        "VpcEndpointRegion": endpoint.ec2_backend.region_name,
        "Tags": [],
    }


_CONNECTION_FILTERS = {
    "service-id": "ServiceId",
    "vpc-endpoint-id": "VpcEndpointId",
    "vpc-endpoint-owner": "VpcEndpointOwner",
    "vpc-endpoint-state": "VpcEndpointState",
    "ip-address-type": "IpAddressType",
}


def describe_vpc_endpoint_connections(self) -> ActionResult:
    """Endpoints (any account) connected to the caller's services; deleted ones are gone."""
    filters = self._get_param("Filters", []) or []
    filtered([], filters, _CONNECTION_FILTERS)  # unknown filter names fail before anything else
    connections = []
    with LOCK:
        for config in list(self.ec2_backend.configurations.values()):
            for endpoint in endpoints_of_service(config):
                if endpoint.state in ("deleted", "deleting"):
                    continue
                connections.append(_connection(config, endpoint))
    connections = filtered(connections, filters, _CONNECTION_FILTERS)
    connections.sort(key=lambda c: (c["CreationTimestamp"], c["VpcEndpointId"]))
    return ActionResult(page(self, connections, "VpcEndpointConnections"))


def _decide(response: Any, accept: bool) -> ActionResult:
    config = _own_config(response, response._get_param("ServiceId"))
    allowed_from = (
        ("pendingAcceptance",) if accept else ("pendingAcceptance", "pending", "available")
    )
    unsuccessful, decided = [], []
    with LOCK:
        connected = {
            e.id: e for e in endpoints_of_service(config) if e.state not in ("deleted", "deleting")
        }
        for endpoint_id in response._get_param("VpcEndpointIds", []):
            endpoint = connected.get(endpoint_id)
            if endpoint is None:
                code = "InvalidVpcEndpointId.NotFound"
                message = f"The Vpc Endpoint Id '{endpoint_id}' does not exist"
            elif endpoint.state not in allowed_from:
                code = "InvalidState"
                verb = "accepted" if accept else "rejected"
                message = f"The VPC endpoint {endpoint_id} is in state {endpoint.state} and can't be {verb}."
            else:
                endpoint.state = "available" if accept else "rejected"
                decided.append(endpoint)
                continue
            unsuccessful.append(
                {"ResourceId": endpoint_id, "Error": {"Code": code, "Message": message}}
            )
    for endpoint in decided:
        announce_connection_event(config, endpoint, "Accept" if accept else "Reject")
    return ActionResult({"Unsuccessful": unsuccessful})


def accept_vpc_endpoint_connections(self) -> ActionResult:
    return _decide(self, accept=True)


def reject_vpc_endpoint_connections(self) -> ActionResult:
    return _decide(self, accept=False)


def _get_filter_value(original):
    def get_filter_value(self, filter_name: str, method_name: str | None = None) -> Any:
        # DescribeVpcEndpoints filters moto does not know (it fails with a 500).
        if filter_name == "vpc-endpoint-id":
            return self.id
        if filter_name == "service-name":
            return self.service_name
        if filter_name == "service-region":
            return self.ec2_backend.region_name
        if filter_name == "ip-address-type":
            return getattr(self, "ip_address_type", None) or "ipv4"
        return original(self, filter_name, method_name)

    return get_filter_value


def apply() -> str:
    wrap(VPCEndPoint, "get_filter_value", _get_filter_value)
    wrap(InvalidVpcEndPointIdError, "__init__", _endpoint_id_not_found)
    wrap(EC2Response, "call_action", _call_action)
    wrap(EC2Response, "create_vpc_endpoint", _create_vpc_endpoint)
    wrap(EC2Response, "modify_vpc_endpoint", _modify_vpc_endpoint)
    wrap(EC2Response, "describe_vpc_endpoints", _describe_vpc_endpoints)
    for handler in (
        delete_vpc_endpoints,
        describe_vpc_endpoint_connections,
        accept_vpc_endpoint_connections,
        reject_vpc_endpoint_connections,
    ):
        setattr(EC2Response, handler.__name__, handler)
    return "endpoints-and-connections"
