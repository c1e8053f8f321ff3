"""Behaviour 12: what the consumer side (Custom::ServiceEndpoint) meets in EC2 and Route 53:
its endpoint's lifecycle and queries, the security group it owns, the private hosted zone."""

import itertools
import re
import time

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import (
    CONSUMER,
    OUTSIDER,
    PROVIDER,
    assume_account,
    aws_error,
    build_consumer_vpc,
    build_private_zone,
    build_provider_network,
    start_emulator,
    stop_emulator,
    upsert_record,
    wait_for_endpoint_state,
)

DELAY_ENV = "AUTOWIRE_EMULATOR_ENDPOINT_DELETE_DELAY_S"
_names = itertools.count(1)


def unique(label):
    return f"{label}{next(_names)}-{int(time.time() * 1000) % 10**7}"


def http_status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def service(provider, provider_network):
    """A service in use1-az1 and use1-az2 the consumer may use, no acceptance needed."""
    return provider_network(provider, ["use1-az1", "use1-az2"], allowed_accounts=[CONSUMER])


def new_group(session, vpc_id, name=None):
    return session.client("ec2").create_security_group(
        GroupName=name or unique("link-sg"), Description="link", VpcId=vpc_id
    )["GroupId"]


def create_endpoint(session, vpc_id, service_name, subnet_ids, **kwargs):
    return session.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=service_name,
        SubnetIds=subnet_ids,
        **kwargs,
    )["VpcEndpoint"]


def tcp(port, cidr="10.0.0.0/16"):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}


def ingress_ports(session, group_id):
    group = session.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return sorted(p.get("FromPort") for p in group["IpPermissions"])


# ---------------------------------------------------------------- the link's security group


def test_duplicate_group_name_in_a_vpc_is_refused(consumer):
    vpc_id, _ = build_consumer_vpc(consumer, [])
    name = unique("dup")
    new_group(consumer, vpc_id, name)
    with pytest.raises(ClientError) as e:
        new_group(consumer, vpc_id, name)
    assert aws_error(e) == (
        "InvalidGroup.Duplicate",
        f"The security group '{name}' already exists for VPC '{vpc_id}'",
    )
    assert http_status(e) == 400
    other_vpc, _ = build_consumer_vpc(consumer, [])
    assert new_group(consumer, other_vpc, name).startswith("sg-")  # names are per VPC


def test_authorizing_an_existing_rule_is_a_duplicate_and_adds_nothing(consumer):
    ec2 = consumer.client("ec2")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    group = new_group(consumer, vpc_id)
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(443)])
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(80), tcp(443)])
    assert aws_error(e) == (
        "InvalidPermission.Duplicate",
        'the specified rule "peer: 10.0.0.0/16, TCP, from port: 443, to port: 443, ALLOW" '
        "already exists",
    )
    assert http_status(e) == 400
    assert ingress_ports(consumer, group) == [443]  # port 80 was not added either

    source = new_group(consumer, vpc_id)
    by_group = {
        "IpProtocol": "tcp",
        "FromPort": 0,
        "ToPort": 65535,
        "UserIdGroupPairs": [{"GroupId": source}],
    }
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[by_group])
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[by_group])
    assert aws_error(e)[1] == (
        f'the specified rule "peer: {source}, TCP, from port: 0, to port: 65535, ALLOW" '
        "already exists"
    )
    everything = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[everything])
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[everything])
    assert aws_error(e)[1] == 'the specified rule "peer: 0.0.0.0/0, ALL, ALLOW" already exists'


def test_the_same_permission_twice_in_one_request_is_refused(consumer):
    ec2 = consumer.client("ec2")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    group = new_group(consumer, vpc_id)
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(443), tcp(443)])
    assert aws_error(e) == (
        "InvalidParameterValue",
        "The same permission must not appear multiple times",
    )
    assert ingress_ports(consumer, group) == []


def test_revoking_a_missing_rule_fails_and_revokes_nothing(consumer):
    ec2 = consumer.client("ec2")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    group = new_group(consumer, vpc_id)
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(443), tcp(8443)])
    with pytest.raises(ClientError) as e:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[tcp(443), tcp(80)])
    assert aws_error(e) == (
        "InvalidPermission.NotFound",
        "The specified rule does not exist in this security group.",
    )
    assert http_status(e) == 400
    assert ingress_ports(consumer, group) == [443, 8443]

    assert ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[tcp(443)])["Return"]
    assert ingress_ports(consumer, group) == [8443]


def test_revoking_a_missing_rule_in_the_default_vpc_reports_it_unknown(outsider):
    ec2 = outsider.client("ec2")
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    group = new_group(outsider, default_vpc["VpcId"])
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[tcp(443)])
    result = ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[tcp(443), tcp(80)])
    assert result["Return"] is True
    assert [(p["IpProtocol"], p["FromPort"]) for p in result["UnknownIpPermissions"]] == [
        ("tcp", 80)
    ]
    assert ingress_ports(outsider, group) == []


def test_a_group_referenced_by_another_group_cannot_be_deleted(consumer):
    ec2 = consumer.client("ec2")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    source, target = new_group(consumer, vpc_id), new_group(consumer, vpc_id)
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "UserIdGroupPairs": [{"GroupId": source}],
    }
    ec2.authorize_security_group_ingress(GroupId=target, IpPermissions=[permission])
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=source)
    assert aws_error(e) == ("DependencyViolation", f"resource {source} has a dependent object")
    ec2.revoke_security_group_ingress(GroupId=target, IpPermissions=[permission])
    ec2.delete_security_group(GroupId=source)


def test_the_endpoints_group_is_deletable_only_once_the_endpoint_is_deleted(consumer, service):
    ec2 = consumer.client("ec2")
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    group = new_group(consumer, vpc_id)
    endpoint = create_endpoint(
        consumer, vpc_id, service.service_name, [subnets["use1-az1"]], SecurityGroupIds=[group]
    )
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=group)
    assert aws_error(e) == ("DependencyViolation", f"resource {group} has a dependent object")
    assert http_status(e) == 400

    result = ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
    assert result["Unsuccessful"] == []
    gone = wait_for_endpoint_state(consumer, endpoint["VpcEndpointId"], "deleted")
    assert gone["State"] == "deleted"
    assert not ec2.describe_network_interfaces(
        Filters=[{"Name": "group-id", "Values": [group]}]
    )["NetworkInterfaces"]
    ec2.delete_security_group(GroupId=group)
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=group)
    assert aws_error(e)[0] == "InvalidGroup.NotFound"


def test_modifying_the_endpoints_groups_reaches_its_interfaces(consumer, service):
    ec2 = consumer.client("ec2")
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az2"])
    old, new = new_group(consumer, vpc_id), new_group(consumer, vpc_id)
    endpoint = create_endpoint(
        consumer, vpc_id, service.service_name, list(subnets.values()), SecurityGroupIds=[old]
    )
    endpoint_id = endpoint["VpcEndpointId"]
    ec2.modify_vpc_endpoint(
        VpcEndpointId=endpoint_id, AddSecurityGroupIds=[new], RemoveSecurityGroupIds=[old]
    )
    after = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert [g["GroupId"] for g in after["Groups"]] == [new]
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=after["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    assert len(enis) == 2
    assert all([g["GroupId"] for g in eni["Groups"]] == [new] for eni in enis)
    ec2.delete_security_group(GroupId=old)  # nothing uses it any more

    other_vpc, _ = build_consumer_vpc(consumer, [])
    foreign = new_group(consumer, other_vpc)
    with pytest.raises(ClientError) as e:
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, AddSecurityGroupIds=[foreign])
    assert aws_error(e) == (
        "InvalidGroup.NotFound",
        f"The security group '{foreign}' does not exist in VPC '{vpc_id}'",
    )
    with pytest.raises(ClientError) as e:
        ec2.modify_vpc_endpoint(
            VpcEndpointId=endpoint_id, AddSecurityGroupIds=["sg-0123456789abcdef0"]
        )
    assert aws_error(e) == (
        "InvalidGroup.NotFound",
        "The security group 'sg-0123456789abcdef0' does not exist",
    )


# ---------------------------------------------------------------- the endpoint


def test_modify_endpoint_subnets_and_private_dns(consumer, service):
    ec2 = consumer.client("ec2")
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az2", "use1-az3"])
    endpoint = create_endpoint(
        consumer, vpc_id, service.service_name, [subnets["use1-az1"], subnets["use1-az2"]]
    )
    endpoint_id = endpoint["VpcEndpointId"]

    with pytest.raises(ClientError) as e:
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, AddSubnetIds=[subnets["use1-az3"]])
    assert aws_error(e) == (
        "InvalidParameter",
        f"The VPC endpoint service {service.service_name} does not support the availability "
        f"zone of the subnet: {subnets['use1-az3']}.",
    )
    with pytest.raises(ClientError) as e:
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, PrivateDnsEnabled=True)
    assert aws_error(e) == (
        "InvalidParameter",
        f"Private DNS can't be enabled because the service {service.service_name} does not "
        "provide a private DNS name.",
    )

    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, RemoveSubnetIds=[subnets["use1-az2"]])
    after = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert after["SubnetIds"] == [subnets["use1-az1"]]
    assert len(after["NetworkInterfaceIds"]) == 1
    assert len(after["DnsEntries"]) == 2  # regional + the one zonal name left
    assert after["PrivateDnsEnabled"] is False


def test_dns_entries_are_regional_then_one_zonal_name_per_subnet(consumer, service):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1", "use1-az2"])
    endpoint = create_endpoint(consumer, vpc_id, service.service_name, list(subnets.values()))
    eid, sid = endpoint["VpcEndpointId"], service.service_id
    regional, *zonal = endpoint["DnsEntries"]
    match = re.fullmatch(
        rf"({eid}-[a-z0-9]{{8}})\.{sid}\.us-east-1\.vpce\.amazonaws\.com", regional["DnsName"]
    )
    assert match, regional
    zone_names = {
        s["AvailabilityZone"]
        for s in consumer.client("ec2").describe_subnets(SubnetIds=list(subnets.values()))[
            "Subnets"
        ]
    }
    assert {e["DnsName"] for e in zonal} == {
        f"{match.group(1)}-{z}.{sid}.us-east-1.vpce.amazonaws.com" for z in zone_names
    }
    assert {e["HostedZoneId"] for e in endpoint["DnsEntries"]} == {"Z7HUB22UULQXV"}


def test_describe_endpoints_filters(consumer, service):
    ec2 = consumer.client("ec2")
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    link = unique("link")
    endpoint_id = create_endpoint(
        consumer,
        vpc_id,
        service.service_name,
        [subnets["use1-az1"]],
        TagSpecifications=[
            {"ResourceType": "vpc-endpoint", "Tags": [{"Key": "autowire:link", "Value": link}]}
        ],
    )["VpcEndpointId"]

    def query(*filters):
        found = ec2.describe_vpc_endpoints(Filters=list(filters))["VpcEndpoints"]
        return [e["VpcEndpointId"] for e in found]

    mine = {"Name": "vpc-id", "Values": [vpc_id]}
    assert query({"Name": "tag:autowire:link", "Values": [link]}) == [endpoint_id]
    assert query({"Name": "tag:autowire:link", "Values": ["other"]}) == []
    assert query(mine, {"Name": "tag-key", "Values": ["autowire:link"]}) == [endpoint_id]
    assert query(mine, {"Name": "service-name", "Values": [service.service_name]}) == [endpoint_id]
    assert query(mine, {"Name": "vpc-endpoint-state", "Values": ["available"]}) == [endpoint_id]
    assert query(mine, {"Name": "vpc-endpoint-type", "Values": ["Interface"]}) == [endpoint_id]
    assert query(mine, {"Name": "ip-address-type", "Values": ["ipv4"]}) == [endpoint_id]
    assert query(mine, {"Name": "service-region", "Values": ["us-east-1"]}) == [endpoint_id]
    with pytest.raises(ClientError) as e:
        query({"Name": "no-such-filter", "Values": ["x"]})
    assert aws_error(e) == ("InvalidParameterValue", "The filter 'no-such-filter' is invalid")

    with pytest.raises(ClientError) as e:
        ec2.describe_vpc_endpoints(VpcEndpointIds=["vpce-0123456789abcdef0"])
    assert aws_error(e) == (
        "InvalidVpcEndpointId.NotFound",
        "The Vpc Endpoint Id 'vpce-0123456789abcdef0' does not exist",
    )


@pytest.fixture(scope="module")
def slow_deletes():
    """An emulator of its own whose endpoint deletions take 1.5 s."""
    url, proc = start_emulator(env={DELAY_ENV: "1.5"})
    try:
        yield url
    finally:
        stop_emulator(proc)


def test_deleting_an_endpoint_takes_a_while(slow_deletes):
    provider = assume_account(slow_deletes, PROVIDER)
    consumer = assume_account(slow_deletes, CONSUMER)
    net = build_provider_network(provider, ["use1-az1"], allowed_accounts=[CONSUMER])
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    group = new_group(consumer, vpc_id)
    ec2 = consumer.client("ec2")
    endpoint = create_endpoint(
        consumer, vpc_id, net.service_name, [subnets["use1-az1"]], SecurityGroupIds=[group]
    )
    endpoint_id = endpoint["VpcEndpointId"]

    started = time.monotonic()
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])["Unsuccessful"] == []
    deleting = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    assert deleting["State"] == "deleting"
    assert ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-endpoint-state", "Values": ["deleting"]}]
    )["VpcEndpoints"][0]["VpcEndpointId"] == endpoint_id
    # Its interfaces, and so its security group, are still there.
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=deleting["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=group)
    assert aws_error(e)[0] == "DependencyViolation"
    # Asking again while it is on its way is fine; it cannot be modified any more.
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])["Unsuccessful"] == []
    with pytest.raises(ClientError) as e:
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, RemoveSubnetIds=[subnets["use1-az1"]])
    assert aws_error(e)[0] == "IncorrectState"

    wait_for_endpoint_state(consumer, endpoint_id, "deleted")
    assert time.monotonic() - started >= 1.5
    ec2.delete_security_group(GroupId=group)

    # Deleted: still described, but for DeleteVpcEndpoints and ModifyVpcEndpoint it is gone.
    again = ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    assert again["Unsuccessful"] == [
        {
            "ResourceId": endpoint_id,
            "Error": {
                "Code": "InvalidVpcEndpoint.NotFound",
                "Message": f"The VpcEndpoint Id '{endpoint_id}' does not exist",
            },
        }
    ]
    with pytest.raises(ClientError) as e:
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint_id, RemoveSubnetIds=[subnets["use1-az1"]])
    assert aws_error(e)[0] == "InvalidVpcEndpointId.NotFound"


def test_without_a_delay_deletion_is_immediate():
    url, proc = start_emulator(env={DELAY_ENV: "0"})
    try:
        provider = assume_account(url, PROVIDER)
        consumer = assume_account(url, CONSUMER)
        net = build_provider_network(provider, ["use1-az1"], allowed_accounts=[CONSUMER])
        vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
        endpoint_id = create_endpoint(consumer, vpc_id, net.service_name, [subnets["use1-az1"]])[
            "VpcEndpointId"
        ]
        ec2 = consumer.client("ec2")
        ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
        state = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]["State"]
        assert state == "deleted"
    finally:
        stop_emulator(proc)


# ---------------------------------------------------------------- the private hosted zone


def test_a_zone_created_with_a_vpc_is_private_and_associated(consumer):
    r53 = consumer.client("route53")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    domain = f"{unique('phz')}.internal.example"
    created = r53.create_hosted_zone(
        Name=domain,
        CallerReference=unique("ref"),
        VPC={"VPCRegion": "us-east-1", "VPCId": vpc_id},
    )
    assert created["HostedZone"]["Config"]["PrivateZone"] is True
    assert created["VPC"] == {"VPCRegion": "us-east-1", "VPCId": vpc_id}
    assert "DelegationSet" not in created
    zone = r53.get_hosted_zone(Id=created["HostedZone"]["Id"])
    assert zone["VPCs"] == [{"VPCRegion": "us-east-1", "VPCId": vpc_id}]
    assert zone["HostedZone"]["Config"]["PrivateZone"] is True


def test_a_caller_reference_is_used_once_even_after_the_zone_is_deleted(consumer):
    r53 = consumer.client("route53")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    reference = unique("ref")
    vpc = {"VPCRegion": "us-east-1", "VPCId": vpc_id}
    zone_id = r53.create_hosted_zone(
        Name=f"{unique('a')}.example", CallerReference=reference, VPC=vpc
    )["HostedZone"]["Id"]

    def refused():
        with pytest.raises(ClientError) as e:
            r53.create_hosted_zone(
                Name=f"{unique('b')}.example", CallerReference=reference, VPC=vpc
            )
        assert aws_error(e) == (
            "HostedZoneAlreadyExists",
            "A hosted zone has already been created with the specified caller reference.",
        )
        assert http_status(e) == 409

    refused()
    r53.delete_hosted_zone(Id=zone_id)
    refused()  # a deleted zone's reference stays used


def test_the_vpc_must_be_the_callers(consumer, outsider):
    vpc_id, _ = build_consumer_vpc(consumer, [])
    for session, vpc in ((outsider, vpc_id), (consumer, "vpc-0123456789abcdef0")):
        with pytest.raises(ClientError) as e:
            session.client("route53").create_hosted_zone(
                Name=f"{unique('x')}.example",
                CallerReference=unique("ref"),
                VPC={"VPCRegion": "us-east-1", "VPCId": vpc},
            )
        assert aws_error(e) == (
            "InvalidVPCId",
            "The VPC ID that you specified either isn't a valid ID or the current account is "
            "not authorized to access this VPC.",
        )
        assert http_status(e) == 400


def test_one_private_zone_per_name_and_vpc(consumer):
    vpc_id, _ = build_consumer_vpc(consumer, [])
    domain = f"{unique('same')}.example"
    zone_id = build_private_zone(consumer, domain, vpc_id)
    with pytest.raises(ClientError) as e:
        build_private_zone(consumer, domain, vpc_id)
    assert aws_error(e) == (
        "ConflictingDomainExists",
        f"The VPC {vpc_id} in region us-east-1 has already been associated with the hosted "
        f"zone {zone_id.rsplit('/', 1)[-1]} with the same domain name.",
    )
    assert http_status(e) == 400
    other_vpc, _ = build_consumer_vpc(consumer, [])
    build_private_zone(consumer, domain, other_vpc)  # another VPC may have its own


def test_list_hosted_zones_by_vpc(consumer, outsider):
    r53 = consumer.client("route53")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    names = [f"{unique('l')}.example." for _ in range(3)]
    ids = [build_private_zone(consumer, n, vpc_id).rsplit("/", 1)[-1] for n in names]
    listed = r53.list_hosted_zones_by_vpc(VPCId=vpc_id, VPCRegion="us-east-1")
    assert [(z["HostedZoneId"], z["Name"]) for z in listed["HostedZoneSummaries"]] == list(
        zip(ids, names)
    )
    assert {z["Owner"]["OwningAccount"] for z in listed["HostedZoneSummaries"]} == {CONSUMER}

    first = r53.list_hosted_zones_by_vpc(VPCId=vpc_id, VPCRegion="us-east-1", MaxItems="2")
    assert [z["HostedZoneId"] for z in first["HostedZoneSummaries"]] == ids[:2]
    rest = r53.list_hosted_zones_by_vpc(
        VPCId=vpc_id, VPCRegion="us-east-1", MaxItems="2", NextToken=first["NextToken"]
    )
    assert [z["HostedZoneId"] for z in rest["HostedZoneSummaries"]] == ids[2:]
    assert "NextToken" not in rest

    # Another region's VPC of that ID, and another account, see none of them.
    assert r53.list_hosted_zones_by_vpc(VPCId=vpc_id, VPCRegion="eu-west-1")[
        "HostedZoneSummaries"
    ] == []
    assert outsider.client("route53").list_hosted_zones_by_vpc(
        VPCId=vpc_id, VPCRegion="us-east-1"
    )["HostedZoneSummaries"] == []


def test_a_zone_with_records_of_its_own_cannot_be_deleted(consumer):
    r53 = consumer.client("route53")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    domain = f"{unique('del')}.example"
    zone_id = build_private_zone(consumer, domain, vpc_id)
    upsert_record(consumer, zone_id, f"api.{domain}", "CNAME", ["vpce-1.example.com"], ttl=60)
    upsert_record(consumer, zone_id, f"sub.{domain}", "NS", ["ns-1.example.net"])

    def delete_refused():
        with pytest.raises(ClientError) as e:
            r53.delete_hosted_zone(Id=zone_id)
        assert aws_error(e) == (
            "HostedZoneNotEmpty",
            "The specified hosted zone contains non-required resource record sets and so "
            "cannot be deleted.",
        )
        assert http_status(e) == 400

    delete_refused()
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "DELETE",
                    "ResourceRecordSet": {
                        "Name": f"api.{domain}",
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "vpce-1.example.com"}],
                    },
                }
            ]
        },
    )
    delete_refused()  # an NS record set below the apex is not one of the required ones
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "DELETE",
                    "ResourceRecordSet": {
                        "Name": f"sub.{domain}",
                        "Type": "NS",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": "ns-1.example.net"}],
                    },
                }
            ]
        },
    )
    r53.delete_hosted_zone(Id=zone_id)
    with pytest.raises(ClientError) as e:
        r53.get_hosted_zone(Id=zone_id)
    assert aws_error(e)[0] == "NoSuchHostedZone"
    assert r53.list_hosted_zones_by_vpc(VPCId=vpc_id, VPCRegion="us-east-1")[
        "HostedZoneSummaries"
    ] == []


def test_hosted_zone_tags(consumer):
    r53 = consumer.client("route53")
    vpc_id, _ = build_consumer_vpc(consumer, [])
    zone = build_private_zone(consumer, f"{unique('tags')}.example", vpc_id).rsplit("/", 1)[-1]
    r53.change_tags_for_resource(
        ResourceType="hostedzone",
        ResourceId=zone,
        AddTags=[{"Key": "autowire:link", "Value": "L1"}, {"Key": "autowire:digest", "Value": "d"}],
    )
    r53.change_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone, RemoveTagKeys=["autowire:digest"]
    )
    tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone)["ResourceTagSet"]
    assert tags["ResourceId"] == zone
    assert tags["Tags"] == [{"Key": "autowire:link", "Value": "L1"}]

    unknown = "Z0000000000000000000AA"
    for call in (
        lambda: r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=unknown),
        lambda: r53.change_tags_for_resource(
            ResourceType="hostedzone", ResourceId=unknown, AddTags=[{"Key": "k", "Value": "v"}]
        ),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert aws_error(e) == ("NoSuchHostedZone", f"No hosted zone found with ID: {unknown}")
        assert http_status(e) == 404


def test_a_zone_of_another_account_is_not_the_callers(account, consumer):
    """Tags and deletion act on the caller's zones only."""
    vpc_id, _ = build_consumer_vpc(consumer, [])
    zone = build_private_zone(consumer, f"{unique('own')}.example", vpc_id).rsplit("/", 1)[-1]
    other = account(OUTSIDER).client("route53")
    with pytest.raises(ClientError) as e:
        other.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone)
    assert aws_error(e)[0] == "NoSuchHostedZone"
    with pytest.raises(ClientError) as e:
        other.delete_hosted_zone(Id=zone)
    assert aws_error(e)[0] == "NoSuchHostedZone"
