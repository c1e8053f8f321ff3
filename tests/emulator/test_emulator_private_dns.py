"""Behaviour 8: private DNS names and their domain-ownership verification."""

import itertools
import re
import time

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import (
    CONSUMER,
    DELEGATION_TAG,
    assume_account,
    aws_error,
    build_consumer_vpc,
    set_zone_delegated,
    start_emulator,
    stop_emulator,
)

DNS_ACCOUNT = "444444444444"  # holds the public zones, like a separate DNS account would
_zone_counter = itertools.count(1)


def configuration(session, service_id):
    return session.client("ec2").describe_vpc_endpoint_service_configurations(
        ServiceIds=[service_id]
    )["ServiceConfigurations"][0]


def public_zone(session, domain):
    zone = session.client("route53").create_hosted_zone(
        Name=domain, CallerReference=f"autowire-{next(_zone_counter)}-{time.time()}"
    )
    return zone["HostedZone"]["Id"]


def put_txt(session, zone_id, name, value):
    session.client("route53").change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": "TXT",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": f'"{value}"'}],
                    },
                }
            ]
        },
    )


def verify(session, service_id):
    session.client("ec2").start_vpc_endpoint_service_private_dns_verification(ServiceId=service_id)
    return configuration(session, service_id)["PrivateDnsNameConfiguration"]["State"]


def test_private_dns_name_starts_pending_with_a_txt_challenge(provider, provider_network):
    net = provider_network(provider, ["use1-az1"], private_dns_name="api.pending.example.org")
    config = configuration(provider, net.service_id)
    assert config["PrivateDnsName"] == "api.pending.example.org"
    challenge = config["PrivateDnsNameConfiguration"]
    assert challenge["State"] == "pendingVerification"
    assert challenge["Type"] == "TXT"
    assert re.fullmatch(r"_[a-z0-9]{20}", challenge["Name"])
    assert re.fullmatch(r"vpce:[A-Za-z0-9]{20}", challenge["Value"])


def test_verification_finds_the_record_in_a_public_zone_of_any_account(
    provider, account, provider_network
):
    dns = account(DNS_ACCOUNT)
    net = provider_network(provider, ["use1-az1"], private_dns_name="orders.link.example.net")
    challenge = configuration(provider, net.service_id)["PrivateDnsNameConfiguration"]
    zone = public_zone(dns, "example.net")
    # The record may sit at a parent domain of the private DNS name.
    put_txt(dns, zone, f"{challenge['Name']}.link.example.net", challenge["Value"])
    assert verify(provider, net.service_id) == "verified"


def test_verification_fails_without_the_record(provider, account, provider_network):
    dns = account(DNS_ACCOUNT)
    net = provider_network(provider, ["use1-az1"], private_dns_name="orders.nothing.example.com")
    challenge = configuration(provider, net.service_id)["PrivateDnsNameConfiguration"]
    zone = public_zone(dns, "nothing.example.com")
    put_txt(dns, zone, f"{challenge['Name']}.nothing.example.com", "vpce:someone-elses-value")
    assert verify(provider, net.service_id) == "failed"

    # Then the right record appears, and a new verification succeeds.
    put_txt(dns, zone, f"{challenge['Name']}.nothing.example.com", challenge["Value"])
    assert verify(provider, net.service_id) == "verified"


def test_record_in_a_private_zone_does_not_verify(provider, account, provider_network):
    dns = account(DNS_ACCOUNT)
    net = provider_network(provider, ["use1-az1"], private_dns_name="orders.private.example.com")
    challenge = configuration(provider, net.service_id)["PrivateDnsNameConfiguration"]
    r53 = dns.client("route53")
    vpc_id = dns.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
    private = r53.create_hosted_zone(
        Name="private.example.com",
        CallerReference=f"autowire-private-{time.time()}",
        VPC={"VPCRegion": "us-east-1", "VPCId": vpc_id},
        HostedZoneConfig={"PrivateZone": True, "Comment": "not public"},
    )["HostedZone"]["Id"]
    put_txt(dns, private, f"{challenge['Name']}.private.example.com", challenge["Value"])
    assert verify(provider, net.service_id) == "failed"


def test_hosted_zone_ids_look_like_aws(account):
    dns = account(DNS_ACCOUNT)
    for _ in range(5):
        zone_id = public_zone(dns, f"zid{next(_zone_counter)}-{time.time_ns()}.example.com")
        assert re.fullmatch(r"/hostedzone/Z[A-Z0-9]{21}", zone_id), zone_id


def test_record_in_an_undelegated_zone_does_not_verify(provider, account, provider_network):
    dns = account(DNS_ACCOUNT)
    domain = f"undelegated{next(_zone_counter)}-{time.time_ns() % 10**9}.example.com"
    net = provider_network(provider, ["use1-az1"], private_dns_name=f"orders.{domain}")
    challenge = configuration(provider, net.service_id)["PrivateDnsNameConfiguration"]
    zone = public_zone(dns, domain)
    set_zone_delegated(dns, zone, False)  # the registrar never got the zone's name servers
    tags = dns.client("route53").list_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone.rsplit("/", 1)[-1]
    )["ResourceTagSet"]["Tags"]
    assert {"Key": DELEGATION_TAG, "Value": "false"} in tags
    put_txt(dns, zone, f"{challenge['Name']}.{domain}", challenge["Value"])
    assert verify(provider, net.service_id) == "failed"

    # Once the parent delegates to the zone, the same record verifies.
    set_zone_delegated(dns, zone, True)
    assert verify(provider, net.service_id) == "verified"

    # Removing the tag leaves the zone delegated.
    dns.client("route53").change_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone.rsplit("/", 1)[-1],
        RemoveTagKeys=[DELEGATION_TAG],
    )
    assert verify(provider, net.service_id) == "verified"


def test_wildcard_private_dns_name_is_verified_on_its_domain(provider, account, provider_network):
    dns = account(DNS_ACCOUNT)
    net = provider_network(provider, ["use1-az1"], private_dns_name="*.wild.example.com")
    challenge = configuration(provider, net.service_id)["PrivateDnsNameConfiguration"]
    zone = public_zone(dns, "wild.example.com")
    put_txt(dns, zone, f"{challenge['Name']}.wild.example.com", challenge["Value"])
    assert verify(provider, net.service_id) == "verified"


def test_set_and_remove_private_dns_name_on_an_existing_service(provider, provider_network):
    net = provider_network(provider, ["use1-az1"])
    ec2 = provider.client("ec2")
    assert "PrivateDnsName" not in configuration(provider, net.service_id)

    ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=net.service_id, PrivateDnsName="late.example.com"
    )
    config = configuration(provider, net.service_id)
    assert config["PrivateDnsName"] == "late.example.com"
    assert config["PrivateDnsNameConfiguration"]["State"] == "pendingVerification"

    ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=net.service_id, RemovePrivateDnsName=True
    )
    config = configuration(provider, net.service_id)
    assert "PrivateDnsName" not in config
    assert "PrivateDnsNameConfiguration" not in config


def test_changing_the_name_starts_over(provider, account, provider_network):
    dns = account(DNS_ACCOUNT)
    net = provider_network(provider, ["use1-az1"], private_dns_name="one.change.example.com")
    challenge = configuration(provider, net.service_id)["PrivateDnsNameConfiguration"]
    zone = public_zone(dns, "change.example.com")
    put_txt(dns, zone, f"{challenge['Name']}.change.example.com", challenge["Value"])
    assert verify(provider, net.service_id) == "verified"

    provider.client("ec2").modify_vpc_endpoint_service_configuration(
        ServiceId=net.service_id, PrivateDnsName="two.change.example.com"
    )
    config = configuration(provider, net.service_id)
    assert config["PrivateDnsName"] == "two.change.example.com"
    assert config["PrivateDnsNameConfiguration"]["State"] == "pendingVerification"
    assert config["PrivateDnsNameConfiguration"]["Name"] != challenge["Name"]


def test_consumer_sees_private_dns_name_and_its_state(
    provider, consumer, account, provider_network
):
    dns = account(DNS_ACCOUNT)
    net = provider_network(
        provider,
        ["use1-az1"],
        allowed_accounts=[CONSUMER],
        private_dns_name="pay.shown.example.com",
    )

    def detail():
        return consumer.client("ec2").describe_vpc_endpoint_services(
            ServiceNames=[net.service_name]
        )["ServiceDetails"][0]

    d = detail()
    assert d["PrivateDnsName"] == "pay.shown.example.com"
    assert d["PrivateDnsNames"] == [{"PrivateDnsName": "pay.shown.example.com"}]
    assert d["PrivateDnsNameVerificationState"] == "pendingVerification"

    challenge = configuration(provider, net.service_id)["PrivateDnsNameConfiguration"]
    put_txt(
        dns,
        public_zone(dns, "shown.example.com"),
        f"{challenge['Name']}.shown.example.com",
        challenge["Value"],
    )
    verify(provider, net.service_id)
    assert detail()["PrivateDnsNameVerificationState"] == "verified"


def test_endpoint_with_private_dns_on_a_verified_service(
    provider, consumer, account, provider_network
):
    dns = account(DNS_ACCOUNT)
    net = provider_network(
        provider, ["use1-az1"], allowed_accounts=[CONSUMER], private_dns_name="db.ok.example.com"
    )
    challenge = configuration(provider, net.service_id)["PrivateDnsNameConfiguration"]
    put_txt(
        dns,
        public_zone(dns, "ok.example.com"),
        f"{challenge['Name']}.ok.example.com",
        challenge["Value"],
    )
    assert verify(provider, net.service_id) == "verified"
    ec2c = consumer.client("ec2")

    # AWS needs enableDnsSupport and enableDnsHostnames on the VPC for private DNS.
    plain_vpc, plain_subnets = build_consumer_vpc(consumer, ["use1-az1"], dns=False)
    with pytest.raises(ClientError) as e:
        ec2c.create_vpc_endpoint(
            VpcEndpointType="Interface",
            VpcId=plain_vpc,
            ServiceName=net.service_name,
            SubnetIds=[plain_subnets["use1-az1"]],
            PrivateDnsEnabled=True,
        )
    assert aws_error(e) == (
        "InvalidParameter",
        "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC "
        f"attributes set to true for {plain_vpc}",
    )

    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint = ec2c.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=net.service_name,
        SubnetIds=[subnets["use1-az1"]],
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]
    assert endpoint["PrivateDnsEnabled"] is True
    assert endpoint["DnsEntries"][-1]["DnsName"] == "db.ok.example.com"


def test_verification_outcome_waits_for_the_configured_delay():
    """AWS verifies asynchronously: the state stays pendingVerification for a while."""
    url, proc = start_emulator(env={"AUTOWIRE_EMULATOR_VERIFY_DELAY_S": "0.6"})
    try:
        provider = assume_account(url, "111111111111")
        ec2 = provider.client("ec2")
        elbv2 = provider.client("elbv2")
        vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock="10.9.1.0/24", AvailabilityZoneId="use1-az1"
        )
        nlb = elbv2.create_load_balancer(
            Name="delay", Type="network", Scheme="internal", Subnets=[subnet["Subnet"]["SubnetId"]]
        )["LoadBalancers"][0]["LoadBalancerArn"]
        service_id = ec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[nlb], PrivateDnsName="slow.example.com"
        )["ServiceConfiguration"]["ServiceId"]
        challenge = configuration(provider, service_id)["PrivateDnsNameConfiguration"]
        put_txt(
            provider,
            public_zone(provider, "example.com"),
            f"{challenge['Name']}.slow.example.com",
            challenge["Value"],
        )

        started = time.monotonic()
        assert verify(provider, service_id) == "pendingVerification"
        state = "pendingVerification"
        while state == "pendingVerification" and time.monotonic() - started < 10:
            time.sleep(0.2)
            state = configuration(provider, service_id)["PrivateDnsNameConfiguration"]["State"]
        assert state == "verified"
        assert time.monotonic() - started >= 0.6
    finally:
        stop_emulator(proc)
