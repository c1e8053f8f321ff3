"""Behaviours 2 and 6: endpoint services across accounts, permissions, refusal to delete."""

import re

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import CONSUMER, OUTSIDER, PROVIDER, aws_error, build_consumer_vpc


def visible_names(session) -> set[str]:
    details = session.client("ec2").describe_vpc_endpoint_services()["ServiceDetails"]
    return {d["ServiceName"] for d in details}


def test_service_and_nlb_ids_look_like_aws(provider, provider_network):
    net = provider_network(provider, ["use1-az1"])
    assert re.fullmatch(r"vpce-svc-[0-9a-f]{17}", net.service_id)
    assert net.service_name == f"com.amazonaws.vpce.us-east-1.{net.service_id}"
    assert ":loadbalancer/net/" in net.nlb_arn
    assert all(":listener/net/" in arn for arn in net.listener_arns)


def test_service_zones_are_those_of_its_nlbs_subnets(provider, provider_network):
    net = provider_network(provider, ["use1-az2", "use1-az5"])
    ec2 = provider.client("ec2")
    config = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[net.service_id])[
        "ServiceConfigurations"
    ][0]
    assert config["AvailabilityZoneIds"] == ["use1-az2", "use1-az5"]
    assert config["NetworkLoadBalancerArns"] == [net.nlb_arn]

    # A second NLB in another zone widens the service's zones.
    other = provider_network(provider, ["use1-az6"])
    ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=net.service_id, AddNetworkLoadBalancerArns=[other.nlb_arn]
    )
    config = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[net.service_id])[
        "ServiceConfigurations"
    ][0]
    assert config["AvailabilityZoneIds"] == ["use1-az2", "use1-az5", "use1-az6"]


def test_service_is_invisible_to_other_accounts_until_permitted(
    provider, consumer, provider_network
):
    net = provider_network(provider, ["use1-az1"])
    ec2p, ec2c = provider.client("ec2"), consumer.client("ec2")

    assert net.service_name in visible_names(provider)
    assert net.service_name not in visible_names(consumer)
    with pytest.raises(ClientError) as e:
        ec2c.describe_vpc_endpoint_services(ServiceNames=[net.service_name])
    assert aws_error(e) == (
        "InvalidServiceName",
        f"The Vpc Endpoint Service '{net.service_name}' does not exist",
    )

    ec2p.modify_vpc_endpoint_service_permissions(
        ServiceId=net.service_id, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    detail = ec2c.describe_vpc_endpoint_services(ServiceNames=[net.service_name])["ServiceDetails"]
    assert [d["ServiceId"] for d in detail] == [net.service_id]
    assert detail[0]["Owner"] == PROVIDER
    assert net.service_name in visible_names(consumer)

    ec2p.modify_vpc_endpoint_service_permissions(
        ServiceId=net.service_id, RemoveAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )
    assert net.service_name not in visible_names(consumer)


def test_permission_for_one_account_does_not_show_the_service_to_others(
    provider, outsider, provider_network
):
    net = provider_network(provider, ["use1-az1"], allowed_accounts=[CONSUMER])
    with pytest.raises(ClientError) as e:
        outsider.client("ec2").describe_vpc_endpoint_services(ServiceNames=[net.service_name])
    assert aws_error(e)[0] == "InvalidServiceName"


def test_wildcard_principal_shows_the_service_to_every_account(
    provider, outsider, provider_network
):
    net = provider_network(provider, ["use1-az1"])
    provider.client("ec2").modify_vpc_endpoint_service_permissions(
        ServiceId=net.service_id, AddAllowedPrincipals=["*"]
    )
    assert net.service_name in visible_names(outsider)


def test_describe_unknown_service_name_is_invalid_service_name(consumer):
    name = "com.amazonaws.vpce.us-east-1.vpce-svc-00000000000000000"
    with pytest.raises(ClientError) as e:
        consumer.client("ec2").describe_vpc_endpoint_services(ServiceNames=[name])
    assert aws_error(e) == (
        "InvalidServiceName",
        f"The Vpc Endpoint Service '{name}' does not exist",
    )


def test_consumer_view_of_a_service(provider, consumer, provider_network):
    net = provider_network(
        provider, ["use1-az1", "use1-az2"], acceptance_required=True, allowed_accounts=[CONSUMER]
    )
    provider.client("ec2").create_tags(
        Resources=[net.service_id], Tags=[{"Key": "team", "Value": "orders"}]
    )
    detail = consumer.client("ec2").describe_vpc_endpoint_services(ServiceNames=[net.service_name])[
        "ServiceDetails"
    ][0]
    assert detail["ServiceType"] == [{"ServiceType": "Interface"}]
    assert detail["AcceptanceRequired"] is True
    assert detail["BaseEndpointDnsNames"] == [f"{net.service_id}.us-east-1.vpce.amazonaws.com"]
    assert detail["Tags"] == []  # the owner's tags are not shown to other accounts
    assert "PrivateDnsName" not in detail


def test_describe_service_permissions_lists_allowed_principals(
    provider, consumer, provider_network
):
    net = provider_network(provider, ["use1-az1"], allowed_accounts=[CONSUMER])
    ec2 = provider.client("ec2")
    ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=net.service_id, AddAllowedPrincipals=[f"arn:aws:iam::{OUTSIDER}:role/reader"]
    )
    allowed = ec2.describe_vpc_endpoint_service_permissions(ServiceId=net.service_id)[
        "AllowedPrincipals"
    ]
    by_principal = {a["Principal"]: a for a in allowed}
    assert set(by_principal) == {
        f"arn:aws:iam::{CONSUMER}:root",
        f"arn:aws:iam::{OUTSIDER}:role/reader",
    }
    assert by_principal[f"arn:aws:iam::{CONSUMER}:root"]["PrincipalType"] == "Account"
    assert by_principal[f"arn:aws:iam::{OUTSIDER}:role/reader"]["PrincipalType"] == "Role"
    assert all(a["ServiceId"] == net.service_id for a in allowed)
    assert all(a["ServicePermissionId"].startswith("vpce-svc-perm-") for a in allowed)

    # Only the owner sees or changes a service's permissions.
    with pytest.raises(ClientError) as e:
        consumer.client("ec2").describe_vpc_endpoint_service_permissions(ServiceId=net.service_id)
    assert aws_error(e)[0] == "InvalidVpcEndpointServiceId.NotFound"


@pytest.mark.parametrize("acceptance_required", [True, False])
def test_delete_service_with_connected_endpoints_is_refused(
    provider, consumer, provider_network, acceptance_required
):
    net = provider_network(
        provider,
        ["use1-az1"],
        acceptance_required=acceptance_required,
        allowed_accounts=[CONSUMER],
    )
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    endpoint = consumer.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=net.service_name,
        SubnetIds=[subnets["use1-az1"]],
    )["VpcEndpoint"]
    ec2p = provider.client("ec2")

    result = ec2p.delete_vpc_endpoint_service_configurations(ServiceIds=[net.service_id])
    assert result["Unsuccessful"] == [
        {
            "ResourceId": net.service_id,
            "Error": {
                "Code": "ExistingVpcEndpointConnections",
                "Message": "Service has existing active VPC Endpoint connections!",
            },
        }
    ]
    still = ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[net.service_id])
    assert len(still["ServiceConfigurations"]) == 1

    # Once the connection is rejected, the service can go.
    ec2p.reject_vpc_endpoint_connections(
        ServiceId=net.service_id, VpcEndpointIds=[endpoint["VpcEndpointId"]]
    )
    result = ec2p.delete_vpc_endpoint_service_configurations(ServiceIds=[net.service_id])
    assert result["Unsuccessful"] == []
    with pytest.raises(ClientError) as e:
        ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[net.service_id])
    assert aws_error(e)[0] == "InvalidVpcEndpointServiceId.NotFound"


def test_delete_service_after_endpoint_deleted_succeeds(provider, consumer, provider_network):
    net = provider_network(provider, ["use1-az1"], allowed_accounts=[CONSUMER])
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    ec2c = consumer.client("ec2")
    endpoint_id = ec2c.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=net.service_name,
        SubnetIds=[subnets["use1-az1"]],
    )["VpcEndpoint"]["VpcEndpointId"]
    ec2c.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    result = provider.client("ec2").delete_vpc_endpoint_service_configurations(
        ServiceIds=[net.service_id]
    )
    assert result["Unsuccessful"] == []


def test_delete_unknown_service_reports_it_unsuccessful(provider):
    result = provider.client("ec2").delete_vpc_endpoint_service_configurations(
        ServiceIds=["vpce-svc-00000000000000000"]
    )
    assert [u["Error"]["Code"] for u in result["Unsuccessful"]] == [
        "InvalidVpcEndpointService.NotFound"
    ]
