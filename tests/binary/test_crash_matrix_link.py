"""The crash matrix (crash_matrix.py) of `Custom::ServiceEndpoint`, a link, through the real
consumer binary: endpoint, security group, alias zone and record, link record, against a
descriptor the provider binary published and shared through AWS RAM."""

from __future__ import annotations

import json

import pytest

from binary_support import CloudFormation, bare_zone_id, norm, provider_harness
from crash_matrix import AZ_IDS, RUN, SERVICE_TIMEOUT, Scenario, World, check, tags_of
from fault_proxy import FaultProxy
from testbed_fixtures import (
    CONSUMER,
    PROVIDER,
    REGION,
    build_consumer_vpc,
    build_provider_network,
)

CANDIDATE_AZ_IDS = ["use1-az1", "use1-az2", "use1-az4"]
LINKS = "/privatelink-autowire/links"


@pytest.fixture(scope="module")
def descriptor_arn(provider, emulator_url, capture) -> str:
    """A descriptor the provider binary published in A for an auto-accepting service, shared
    with B through AWS RAM."""
    service = build_provider_network(provider, AZ_IDS, listeners=[("TLS", 443)],
                                     allowed_accounts=[CONSUMER])
    key = f"crash-link-{RUN}"
    cfn = CloudFormation(capture, PROVIDER, "crash-link-provider")
    with FaultProxy(emulator_url) as proxy, provider_harness(provider, proxy, 30) as fn:
        body = cfn.send(fn, cfn.event(fn, "Create", "Custom::ServicePublication", "Publication", {
            "ServiceId": service.service_id, "ServiceKey": key,
            "TlsNames": [f"*.{key}.example.com"]}))
    assert body["Status"] == "SUCCESS", body
    arn = body["Data"]["ParameterArn"]
    provider.client("ram").create_resource_share(name=key, resourceArns=[arn],
                                                 principals=[CONSUMER])
    return arn


def link_records(session, vpc_id: str) -> dict:
    """The link records (Parameter Store, B) of links in the VPC."""
    pages = session.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=LINKS)
    found = {}
    for page in pages:
        for p in page["Parameters"]:
            value = json.loads(p["Value"])
            if value.get("properties", {}).get("VpcId") == vpc_id:
                found[p["Name"]] = value
    return found


def zones_with_records(session, vpc_id: str) -> list[dict]:
    r53 = session.client("route53")
    out = []
    for z in r53.list_hosted_zones_by_vpc(VPCId=vpc_id, VPCRegion=REGION)["HostedZoneSummaries"]:
        zone_id = bare_zone_id(z["HostedZoneId"])
        tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
        records = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        out.append({"name": norm(z["Name"]), "tags": tags_of(tags["ResourceTagSet"]["Tags"]),
                    "records": [(norm(r["Name"]), r["Type"], [v["Value"] for v in
                                 r.get("ResourceRecords", [])]) for r in records
                                if r["Type"] not in ("SOA", "NS")]})
    return out


def link_world(consumer, descriptor: str, label: str) -> World:
    vpc_id, subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    alias = "api." + descriptor.rsplit("/", 1)[-1] + ".example.com"
    props = {"ServiceParameter": descriptor, "VpcId": vpc_id, "AliasName": alias,
             "SubnetIds": [subnets[a] for a in CANDIDATE_AZ_IDS], "ServiceTimeout": SERVICE_TIMEOUT}
    ec2 = consumer.client("ec2")
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]

    def inventory() -> dict:
        endpoints = ec2.describe_vpc_endpoints(Filters=in_vpc)["VpcEndpoints"]
        groups = ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]
        interfaces = ec2.describe_network_interfaces(Filters=in_vpc)["NetworkInterfaces"]
        return {
            "endpoints": [{"state": e["State"], "service": e["ServiceName"],
                           "subnets": e["SubnetIds"], "groups": [g["GroupId"] for g in e["Groups"]],
                           "private_dns": e["PrivateDnsEnabled"], "tags": tags_of(e.get("Tags")),
                           "dns": [d["DnsName"] for d in e["DnsEntries"]]}
                          for e in endpoints if e["State"] != "deleted"],
            "groups": [{"name": g["GroupName"], "tags": tags_of(g.get("Tags")),
                        "ingress": g["IpPermissions"], "egress": g["IpPermissionsEgress"]}
                       for g in groups if g["GroupName"] != "default"],
            "interfaces": [(i["InterfaceType"], i["Status"], i["SubnetId"]) for i in interfaces],
            "zones": zones_with_records(consumer, vpc_id),
            "records": link_records(consumer, vpc_id),
        }

    subs = {s: f"<subnet {a}>" for a, s in subnets.items()}
    return World(props, inventory, subs)


def test_link_crash_matrix(consumer, descriptor_arn, emulator_url, capture, record_property):
    check(Scenario("link", "consumer", consumer, "Custom::ServiceEndpoint", "OrdersLink",
                   lambda label: link_world(consumer, descriptor_arn, label)),
          emulator_url, capture, record_property)
