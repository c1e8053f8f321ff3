"""The server process itself: readiness, health, accounts selected by credentials."""

from testbed_fixtures import CONSUMER, PROVIDER, health


def test_health_endpoint_answers_and_lists_extensions(emulator_url):
    body = health(emulator_url)
    assert body["status"] == "ok"
    assert "account-specific-az-names" in body["extensions"]
    assert "ssm-sharing-through-ram" in body["extensions"]


def test_assumed_role_credentials_select_the_account(provider, consumer):
    assert provider.client("sts").get_caller_identity()["Account"] == PROVIDER
    assert consumer.client("sts").get_caller_identity()["Account"] == CONSUMER


def test_resources_stay_in_their_account(provider, consumer):
    ec2p = provider.client("ec2")
    vpc_id = ec2p.create_vpc(CidrBlock="10.250.0.0/16")["Vpc"]["VpcId"]
    assert vpc_id in {v["VpcId"] for v in ec2p.describe_vpcs()["Vpcs"]}
    assert vpc_id not in {v["VpcId"] for v in consumer.client("ec2").describe_vpcs()["Vpcs"]}
