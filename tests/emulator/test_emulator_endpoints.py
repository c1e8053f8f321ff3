"""Behaviours 3, 4 and 5: CreateVpcEndpoint validation, acceptance, ClientToken idempotency."""

import ipaddress
import re

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import CONSUMER, OUTSIDER, aws_error, build_consumer_vpc


@pytest.fixture
def service(provider, provider_network):
    """A service in use1-az1 and use1-az2 that the consumer may use, acceptance required."""
    return provider_network(
        provider, ["use1-az1", "use1-az2"], acceptance_required=True, allowed_accounts=[CONSUMER]
    )


def create_endpoint(session, vpc_id, service_name, subnet_ids, **kwargs):
    return session.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=service_name,
        SubnetIds=subnet_ids,
        **kwargs,
    )["VpcEndpoint"]


def endpoint_state(session, endpoint_id):
    endpoints = session.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    return endpoints["VpcEndpoints"][0]["State"]


# ---------------------------------------------------------------- validation


def test_create_endpoint_to_invisible_service_is_refused(outsider, service):
    vpc_id, subnets = build_consumer_vpc(outsider, ["use1-az1"])
    with pytest.raises(ClientError) as e:
        create_endpoint(outsider, vpc_id, service.service_name, [subnets["use1-az1"]])
    assert aws_error(e) == (
        "InvalidServiceName",
        f"The Vpc Endpoint Service '{service.service_name}' does not exist",
    )


def test_create_endpoint_to_unknown_service_is_refused(consumer):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    name = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
    with pytest.raises(ClientError) as e:
        create_endpoint(consumer, vpc_id, name, [subnets["use1-az1"]])
    assert aws_error(e) == (
        "InvalidServiceName",
        f"The Vpc Endpoint Service '{name}' does not exist",
    )


def test_create_endpoint_in_unsupported_az_is_refused(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az3"])
    with pytest.raises(ClientError) as e:
        create_endpoint(
            consumer, vpc_id, service.service_name, [subnets["use1-az1"], subnets["use1-az3"]]
        )
    assert aws_error(e) == (
        "InvalidParameter",
        f"The VPC endpoint service {service.service_name} does not support the availability "
        f"zone of the subnet: {subnets['use1-az3']}.",
    )


def test_supported_zones_are_matched_by_zone_id_not_by_name(provider, consumer, service):
    """The consumer's subnet named like one of the provider's zones is not necessarily there."""
    p_zones = provider.client("ec2").describe_availability_zones()["AvailabilityZones"]
    provider_name_of_az1 = next(z["ZoneName"] for z in p_zones if z["ZoneId"] == "use1-az1")
    ec2c = consumer.client("ec2")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    cidr = ec2c.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    base = cidr.rsplit(".", 2)[0]
    same_name = ec2c.create_subnet(
        VpcId=vpc_id, CidrBlock=f"{base}.10.0/24", AvailabilityZone=provider_name_of_az1
    )["Subnet"]
    assert same_name["AvailabilityZoneId"] not in ("use1-az1", "use1-az2")
    with pytest.raises(ClientError) as e:
        create_endpoint(consumer, vpc_id, service.service_name, [same_name["SubnetId"]])
    assert aws_error(e)[0] == "InvalidParameter"

    same_id = ec2c.create_subnet(
        VpcId=vpc_id, CidrBlock=f"{base}.11.0/24", AvailabilityZoneId="use1-az1"
    )["Subnet"]
    assert same_id["AvailabilityZone"] != provider_name_of_az1
    endpoint = create_endpoint(consumer, vpc_id, service.service_name, [same_id["SubnetId"]])
    assert endpoint["SubnetIds"] == [same_id["SubnetId"]]


def test_two_subnets_in_the_same_zone_are_refused(consumer, service):
    ec2c = consumer.client("ec2")
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    cidr = ec2c.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    second = ec2c.create_subnet(
        VpcId=vpc_id, CidrBlock=cidr.rsplit(".", 2)[0] + ".20.0/24", AvailabilityZoneId="use1-az1"
    )["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as e:
        create_endpoint(consumer, vpc_id, service.service_name, [subnets["use1-az1"], second])
    assert aws_error(e) == (
        "DuplicateSubnetsInSameZone",
        f"Found another VPC endpoint subnet in the availability zone of {subnets['use1-az1']}",
    )


def test_private_dns_on_a_service_without_private_dns_name_is_refused(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    with pytest.raises(ClientError) as e:
        create_endpoint(
            consumer, vpc_id, service.service_name, [subnets["use1-az1"]], PrivateDnsEnabled=True
        )
    assert aws_error(e) == (
        "InvalidParameter",
        f"Private DNS can't be enabled because the service {service.service_name} does not "
        "provide a private DNS name.",
    )
    # Explicitly off, or not sent at all, is fine.
    off = create_endpoint(
        consumer, vpc_id, service.service_name, [subnets["use1-az1"]], PrivateDnsEnabled=False
    )
    assert off["PrivateDnsEnabled"] is False
    vpc2, subnets2 = build_consumer_vpc(consumer, ["use1-az2"])
    unsent = create_endpoint(consumer, vpc2, service.service_name, [subnets2["use1-az2"]])
    assert unsent["PrivateDnsEnabled"] is False


def test_modify_endpoint_adding_subnets_checks_zones(consumer, service):
    ec2c = consumer.client("ec2")
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az2", "use1-az3"])
    endpoint = create_endpoint(consumer, vpc_id, service.service_name, [subnets["use1-az1"]])
    endpoint_id = endpoint["VpcEndpointId"]

    with pytest.raises(ClientError) as e:
        ec2c.modify_vpc_endpoint(VpcEndpointId=endpoint_id, AddSubnetIds=[subnets["use1-az3"]])
    assert aws_error(e) == (
        "InvalidParameter",
        f"The VPC endpoint service {service.service_name} does not support the availability "
        f"zone of the subnet: {subnets['use1-az3']}.",
    )

    cidr = ec2c.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    same_zone = ec2c.create_subnet(
        VpcId=vpc_id, CidrBlock=cidr.rsplit(".", 2)[0] + ".30.0/24", AvailabilityZoneId="use1-az1"
    )["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as e:
        ec2c.modify_vpc_endpoint(VpcEndpointId=endpoint_id, AddSubnetIds=[same_zone])
    assert aws_error(e)[0] == "DuplicateSubnetsInSameZone"

    ec2c.modify_vpc_endpoint(VpcEndpointId=endpoint_id, AddSubnetIds=[subnets["use1-az2"]])
    after = ec2c.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert sorted(after["SubnetIds"]) == sorted([subnets["use1-az1"], subnets["use1-az2"]])
    assert len(after["NetworkInterfaceIds"]) == 2
    assert len(after["DnsEntries"]) == 3  # regional + one zonal name per subnet

    # Swapping the zone's subnet in one call is allowed.
    ec2c.modify_vpc_endpoint(
        VpcEndpointId=endpoint_id, RemoveSubnetIds=[subnets["use1-az1"]], AddSubnetIds=[same_zone]
    )
    after = ec2c.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert sorted(after["SubnetIds"]) == sorted([same_zone, subnets["use1-az2"]])
    assert len(after["NetworkInterfaceIds"]) == 2


def test_endpoint_dns_entries_are_regional_then_zonal(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az2"])
    endpoint = create_endpoint(
        consumer, vpc_id, service.service_name, [subnets["use1-az1"], subnets["use1-az2"]]
    )
    names = [e["DnsName"] for e in endpoint["DnsEntries"]]
    eid, sid = endpoint["VpcEndpointId"], service.service_id
    assert re.fullmatch(rf"{eid}-[a-z0-9]{{8}}\.{sid}\.us-east-1\.vpce\.amazonaws\.com", names[0])
    zone_names = {
        s["AvailabilityZone"]
        for s in consumer.client("ec2").describe_subnets(SubnetIds=endpoint["SubnetIds"])["Subnets"]
    }
    regional_prefix = names[0].split(".")[0]
    assert {n.split(".")[0][len(regional_prefix) + 1 :] for n in names[1:]} == zone_names
    assert re.fullmatch(r"vpce-[0-9a-f]{17}", eid)


# ---------------------------------------------------------------- acceptance


def test_endpoint_waits_for_acceptance_when_the_service_requires_it(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint = create_endpoint(consumer, vpc_id, service.service_name, [subnets["use1-az1"]])
    assert endpoint["State"] == "pendingAcceptance"


def test_endpoint_is_available_at_once_without_acceptance(provider, consumer, provider_network):
    net = provider_network(provider, ["use1-az1"], allowed_accounts=[CONSUMER])
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint = create_endpoint(consumer, vpc_id, net.service_name, [subnets["use1-az1"]])
    assert endpoint["State"] == "available"


def test_provider_accepts_a_connection(provider, consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint = create_endpoint(consumer, vpc_id, service.service_name, [subnets["use1-az1"]])
    ec2p = provider.client("ec2")

    connections = ec2p.describe_vpc_endpoint_connections(
        Filters=[{"Name": "service-id", "Values": [service.service_id]}]
    )["VpcEndpointConnections"]
    assert len(connections) == 1
    connection = connections[0]
    assert connection["ServiceId"] == service.service_id
    assert connection["VpcEndpointId"] == endpoint["VpcEndpointId"]
    assert connection["VpcEndpointOwner"] == CONSUMER
    assert connection["VpcEndpointState"] == "pendingAcceptance"
    assert connection["CreationTimestamp"] == endpoint["CreationTimestamp"]
    assert connection["NetworkLoadBalancerArns"] == [service.nlb_arn]

    result = ec2p.accept_vpc_endpoint_connections(
        ServiceId=service.service_id, VpcEndpointIds=[endpoint["VpcEndpointId"]]
    )
    assert result["Unsuccessful"] == []
    assert endpoint_state(consumer, endpoint["VpcEndpointId"]) == "available"
    connections = ec2p.describe_vpc_endpoint_connections(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [endpoint["VpcEndpointId"]]}]
    )["VpcEndpointConnections"]
    assert [c["VpcEndpointState"] for c in connections] == ["available"]


def test_provider_rejects_a_connection_and_it_stays_rejected(provider, consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint_id = create_endpoint(consumer, vpc_id, service.service_name, [subnets["use1-az1"]])[
        "VpcEndpointId"
    ]
    ec2p = provider.client("ec2")
    result = ec2p.reject_vpc_endpoint_connections(
        ServiceId=service.service_id, VpcEndpointIds=[endpoint_id]
    )
    assert result["Unsuccessful"] == []
    assert endpoint_state(consumer, endpoint_id) == "rejected"

    # A rejected endpoint cannot be accepted afterwards, and remains listed as rejected.
    result = ec2p.accept_vpc_endpoint_connections(
        ServiceId=service.service_id, VpcEndpointIds=[endpoint_id]
    )
    assert [u["Error"]["Code"] for u in result["Unsuccessful"]] == ["InvalidState"]
    assert endpoint_state(consumer, endpoint_id) == "rejected"
    states = ec2p.describe_vpc_endpoint_connections(
        Filters=[{"Name": "vpc-endpoint-state", "Values": ["rejected"]}]
    )["VpcEndpointConnections"]
    assert endpoint_id in {c["VpcEndpointId"] for c in states}


def test_accept_reports_unknown_and_wrong_state_endpoints_as_unsuccessful(
    provider, consumer, service
):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint_id = create_endpoint(consumer, vpc_id, service.service_name, [subnets["use1-az1"]])[
        "VpcEndpointId"
    ]
    ec2p = provider.client("ec2")
    unknown = "vpce-0123456789abcdef0"
    result = ec2p.accept_vpc_endpoint_connections(
        ServiceId=service.service_id, VpcEndpointIds=[endpoint_id, unknown]
    )
    assert result["Unsuccessful"] == [
        {
            "ResourceId": unknown,
            "Error": {
                "Code": "InvalidVpcEndpointId.NotFound",
                "Message": f"The Vpc Endpoint Id '{unknown}' does not exist",
            },
        }
    ]
    again = ec2p.accept_vpc_endpoint_connections(
        ServiceId=service.service_id, VpcEndpointIds=[endpoint_id]
    )
    assert [(u["ResourceId"], u["Error"]["Code"]) for u in again["Unsuccessful"]] == [
        (endpoint_id, "InvalidState")
    ]


def test_only_the_service_owner_can_accept_or_reject(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint_id = create_endpoint(consumer, vpc_id, service.service_name, [subnets["use1-az1"]])[
        "VpcEndpointId"
    ]
    ec2c = consumer.client("ec2")
    for call in (ec2c.accept_vpc_endpoint_connections, ec2c.reject_vpc_endpoint_connections):
        with pytest.raises(ClientError) as e:
            call(ServiceId=service.service_id, VpcEndpointIds=[endpoint_id])
        assert aws_error(e) == (
            "InvalidVpcEndpointServiceId.NotFound",
            f"The VpcEndpointService Id '{service.service_id}' does not exist",
        )
    assert endpoint_state(consumer, endpoint_id) == "pendingAcceptance"


def test_deleted_endpoint_disappears_from_connections(provider, consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint_id = create_endpoint(consumer, vpc_id, service.service_name, [subnets["use1-az1"]])[
        "VpcEndpointId"
    ]
    ec2p = provider.client("ec2")
    listed = lambda: {  # noqa: E731
        c["VpcEndpointId"]
        for c in ec2p.describe_vpc_endpoint_connections(
            Filters=[{"Name": "service-id", "Values": [service.service_id]}]
        )["VpcEndpointConnections"]
    }
    assert endpoint_id in listed()
    result = consumer.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    assert result["Unsuccessful"] == []
    assert endpoint_id not in listed()


def test_connection_filters(provider, consumer, account, provider_network):
    net = provider_network(
        provider, ["use1-az1"], acceptance_required=True, allowed_accounts=[CONSUMER, OUTSIDER]
    )
    outsider = account(OUTSIDER)
    ids = {}
    for who in (consumer, outsider):
        vpc_id, subnets = build_consumer_vpc(who, ["use1-az1"])
        ids[who.account_id] = create_endpoint(who, vpc_id, net.service_name, [subnets["use1-az1"]])[
            "VpcEndpointId"
        ]
    ec2p = provider.client("ec2")
    ec2p.accept_vpc_endpoint_connections(ServiceId=net.service_id, VpcEndpointIds=[ids[OUTSIDER]])

    def query(*filters):
        return {
            c["VpcEndpointId"]
            for c in ec2p.describe_vpc_endpoint_connections(
                Filters=[{"Name": "service-id", "Values": [net.service_id]}, *filters]
            )["VpcEndpointConnections"]
        }

    assert query() == set(ids.values())
    assert query({"Name": "vpc-endpoint-owner", "Values": [CONSUMER]}) == {ids[CONSUMER]}
    assert query({"Name": "vpc-endpoint-state", "Values": ["pendingAcceptance"]}) == {ids[CONSUMER]}
    assert query({"Name": "vpc-endpoint-id", "Values": [ids[OUTSIDER]]}) == {ids[OUTSIDER]}
    with pytest.raises(ClientError) as e:
        ec2p.describe_vpc_endpoint_connections(
            Filters=[{"Name": "no-such-filter", "Values": ["x"]}]
        )
    assert aws_error(e)[0] == "InvalidParameterValue"

    # Connections of other accounts' services never show up.
    assert not {
        c["VpcEndpointId"]
        for c in consumer.client("ec2").describe_vpc_endpoint_connections()[
            "VpcEndpointConnections"
        ]
    } & set(ids.values())


def test_delete_unknown_endpoint_is_reported_unsuccessful(consumer):
    result = consumer.client("ec2").delete_vpc_endpoints(VpcEndpointIds=["vpce-0123456789abcdef0"])
    assert [u["Error"]["Code"] for u in result["Unsuccessful"]] == ["InvalidVpcEndpoint.NotFound"]


# ---------------------------------------------------------------- idempotency


def test_same_client_token_returns_the_same_endpoint(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    first = consumer.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=service.service_name,
        SubnetIds=[subnets["use1-az1"]],
        ClientToken="link-0001",
    )
    second = consumer.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=service.service_name,
        SubnetIds=[subnets["use1-az1"]],
        ClientToken="link-0001",
    )
    assert first["ClientToken"] == second["ClientToken"] == "link-0001"
    assert first["VpcEndpoint"]["VpcEndpointId"] == second["VpcEndpoint"]["VpcEndpointId"]
    endpoints = consumer.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )["VpcEndpoints"]
    assert len(endpoints) == 1


def test_client_token_with_other_parameters_is_a_mismatch(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az2"])
    ec2c = consumer.client("ec2")
    ec2c.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=service.service_name,
        SubnetIds=[subnets["use1-az1"]],
        ClientToken="link-0002",
    )
    with pytest.raises(ClientError) as e:
        ec2c.create_vpc_endpoint(
            VpcEndpointType="Interface",
            VpcId=vpc_id,
            ServiceName=service.service_name,
            SubnetIds=[subnets["use1-az2"]],
            ClientToken="link-0002",
        )
    assert aws_error(e) == (
        "IdempotentParameterMismatch",
        "Arguments on this idempotent request are inconsistent with arguments used in "
        "previous request(s).",
    )


# ---------------------------------------------------------------- what the consumer sees


def test_endpoint_network_interfaces_sit_in_their_subnets(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az2"])
    ec2c = consumer.client("ec2")
    group = ec2c.create_security_group(GroupName="link-sg", Description="link", VpcId=vpc_id)[
        "GroupId"
    ]
    endpoint = create_endpoint(
        consumer,
        vpc_id,
        service.service_name,
        [subnets["use1-az1"], subnets["use1-az2"]],
        SecurityGroupIds=[group],
    )
    enis = ec2c.describe_network_interfaces(NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    cidrs = {
        s["SubnetId"]: ipaddress.ip_network(s["CidrBlock"])
        for s in ec2c.describe_subnets(SubnetIds=list(subnets.values()))["Subnets"]
    }
    assert sorted(e["SubnetId"] for e in enis) == sorted(subnets.values())
    for eni in enis:
        assert ipaddress.ip_address(eni["PrivateIpAddress"]) in cidrs[eni["SubnetId"]]
        assert eni["InterfaceType"] == "vpc_endpoint"
        assert eni["RequesterManaged"] is True
        assert [g["GroupId"] for g in eni["Groups"]] == [group]
        assert endpoint["VpcEndpointId"] in eni["Description"]


def test_describe_endpoints_filters_by_id_service_and_tag(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint_id = create_endpoint(
        consumer,
        vpc_id,
        service.service_name,
        [subnets["use1-az1"]],
        TagSpecifications=[
            {
                "ResourceType": "vpc-endpoint",
                "Tags": [{"Key": "autowire:link", "Value": "link-filter-test"}],
            }
        ],
    )["VpcEndpointId"]
    ec2c = consumer.client("ec2")
    for name, value in [
        ("vpc-endpoint-id", endpoint_id),
        ("service-name", service.service_name),
        ("tag:autowire:link", "link-filter-test"),
    ]:
        found = ec2c.describe_vpc_endpoints(Filters=[{"Name": name, "Values": [value]}])[
            "VpcEndpoints"
        ]
        assert [e["VpcEndpointId"] for e in found] == [endpoint_id], name
