"""Behaviour 1: zone names map to zone IDs differently in each account."""

import pytest
from botocore.exceptions import ClientError
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

from testbed_fixtures import CONSUMER, PROVIDER, REGION, aws_error


def zone_map(session) -> dict[str, str]:
    zones = session.client("ec2").describe_availability_zones()["AvailabilityZones"]
    return {z["ZoneName"]: z["ZoneId"] for z in zones}


def test_same_zone_ids_have_different_names_in_two_accounts(provider, consumer):
    p, c = zone_map(provider), zone_map(consumer)
    assert sorted(p.values()) == sorted(c.values())  # the same physical zones
    assert p != c
    by_id_p = {v: k for k, v in p.items()}
    by_id_c = {v: k for k, v in c.items()}
    assert any(by_id_p[i] != by_id_c[i] for i in by_id_p)


@pytest.mark.parametrize("account_id", [PROVIDER, CONSUMER, "123456789012"])
def test_zone_map_is_moto_default_rotated_by_account_id(account, account_id):
    default = RegionsAndZonesBackend.zones[REGION]
    names = [z.name for z in default]
    ids = [z.zone_id for z in default]
    k = int(account_id) % len(ids)
    expected = {names[i]: ids[(i + k) % len(ids)] for i in range(len(ids))}
    assert zone_map(account(account_id)) == expected


def test_describe_zones_filters_by_name_and_id(provider):
    ec2 = provider.client("ec2")
    mapping = zone_map(provider)
    name, zone_id = next(iter(mapping.items()))
    by_name = ec2.describe_availability_zones(ZoneNames=[name])["AvailabilityZones"]
    by_id = ec2.describe_availability_zones(ZoneIds=[zone_id])["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"]) for z in by_name] == [(name, zone_id)]
    assert [(z["ZoneName"], z["ZoneId"]) for z in by_id] == [(name, zone_id)]


def test_create_subnet_by_zone_name_or_zone_id_uses_the_account_map(provider):
    ec2 = provider.client("ec2")
    mapping = zone_map(provider)
    vpc_id = ec2.create_vpc(CidrBlock="10.251.0.0/16")["Vpc"]["VpcId"]

    by_name = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock="10.251.1.0/24", AvailabilityZone="us-east-1a"
    )
    assert by_name["Subnet"]["AvailabilityZone"] == "us-east-1a"
    assert by_name["Subnet"]["AvailabilityZoneId"] == mapping["us-east-1a"]

    by_id = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock="10.251.2.0/24", AvailabilityZoneId="use1-az1"
    )
    name_of_az1 = {v: k for k, v in mapping.items()}["use1-az1"]
    assert by_id["Subnet"]["AvailabilityZoneId"] == "use1-az1"
    assert by_id["Subnet"]["AvailabilityZone"] == name_of_az1

    described = ec2.describe_subnets(
        SubnetIds=[by_name["Subnet"]["SubnetId"], by_id["Subnet"]["SubnetId"]]
    )["Subnets"]
    assert {(s["AvailabilityZone"], s["AvailabilityZoneId"]) for s in described} == {
        ("us-east-1a", mapping["us-east-1a"]),
        (name_of_az1, "use1-az1"),
    }
    filtered = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "availability-zone-id", "Values": ["use1-az1"]},
        ]
    )["Subnets"]
    assert [s["SubnetId"] for s in filtered] == [by_id["Subnet"]["SubnetId"]]


def test_default_vpc_subnets_follow_the_account_map(consumer):
    ec2 = consumer.client("ec2")
    mapping = zone_map(consumer)
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc["VpcId"]]}])[
        "Subnets"
    ]
    assert len(subnets) == len(mapping)
    assert all(mapping[s["AvailabilityZone"]] == s["AvailabilityZoneId"] for s in subnets)


def test_unknown_zone_is_refused(provider):
    ec2 = provider.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.252.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.252.1.0/24", AvailabilityZone="us-east-1z")
    assert aws_error(e)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.252.2.0/24", AvailabilityZoneId="use1-az9")
    assert aws_error(e)[0] == "InvalidParameterValue"


def test_nlb_and_endpoint_service_zones_use_the_owners_names(provider, consumer, provider_network):
    net = provider_network(provider, ["use1-az1", "use1-az4"], allowed_accounts=[CONSUMER])
    p_names = {v: k for k, v in zone_map(provider).items()}
    c_names = {v: k for k, v in zone_map(consumer).items()}

    lb = provider.client("elbv2").describe_load_balancers(LoadBalancerArns=[net.nlb_arn])[
        "LoadBalancers"
    ][0]
    assert {z["ZoneName"] for z in lb["AvailabilityZones"]} == {
        p_names["use1-az1"],
        p_names["use1-az4"],
    }

    config = provider.client("ec2").describe_vpc_endpoint_service_configurations(
        ServiceIds=[net.service_id]
    )["ServiceConfigurations"][0]
    assert config["AvailabilityZones"] == sorted([p_names["use1-az1"], p_names["use1-az4"]])
    assert config["AvailabilityZoneIds"] == ["use1-az1", "use1-az4"]

    detail = consumer.client("ec2").describe_vpc_endpoint_services(ServiceNames=[net.service_name])[
        "ServiceDetails"
    ][0]
    assert detail["AvailabilityZones"] == sorted([c_names["use1-az1"], c_names["use1-az4"]])
    assert detail["AvailabilityZoneIds"] == ["use1-az1", "use1-az4"]
    assert detail["AvailabilityZones"] != config["AvailabilityZones"]
