"""Behaviour 7: an Advanced-tier parameter shared through AWS RAM, read by ARN elsewhere."""

import itertools

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import CONSUMER, OUTSIDER, PROVIDER, aws_error

_names = itertools.count(1)


def new_parameter(session, tier="Advanced", value='{"schema":1}'):
    name = f"/privatelink-autowire/services/svc-{next(_names)}"
    session.client("ssm").put_parameter(Name=name, Value=value, Type="String", Tier=tier)
    return session.client("ssm").get_parameter(Name=name)["Parameter"]["ARN"], name


def share(session, arns, principals):
    return session.client("ram").create_resource_share(
        name=f"autowire-{next(_names)}", resourceArns=arns, principals=principals
    )["resourceShare"]["resourceShareArn"]


def denied_message(account_id, action, arn):
    return (
        f"User: arn:aws:sts::{account_id}:assumed-role/autowire-test/autowire-test is not "
        f"authorized to perform: ssm:{action} on resource: {arn} because no resource-based "
        f"policy allows the ssm:{action} action"
    )


def test_shared_advanced_parameter_is_readable_by_arn(provider, consumer):
    arn, name = new_parameter(provider)
    share(provider, [arn], [CONSUMER])
    parameter = consumer.client("ssm").get_parameter(Name=arn)["Parameter"]
    assert parameter["Value"] == '{"schema":1}'
    assert parameter["ARN"] == arn
    assert arn.startswith(f"arn:aws:ssm:us-east-1:{PROVIDER}:parameter/")


def test_share_to_root_principal_arn_works_too(provider, consumer):
    arn, _ = new_parameter(provider)
    share(provider, [arn], [f"arn:aws:iam::{CONSUMER}:root"])
    assert consumer.client("ssm").get_parameter(Name=arn)["Parameter"]["ARN"] == arn


def test_unshared_parameter_by_arn_is_access_denied(provider, consumer):
    arn, _ = new_parameter(provider)
    with pytest.raises(ClientError) as e:
        consumer.client("ssm").get_parameter(Name=arn)
    assert aws_error(e) == ("AccessDeniedException", denied_message(CONSUMER, "GetParameter", arn))


def test_parameter_shared_with_someone_else_is_access_denied(provider, account):
    arn, _ = new_parameter(provider)
    share(provider, [arn], [CONSUMER])
    with pytest.raises(ClientError) as e:
        account(OUTSIDER).client("ssm").get_parameter(Name=arn)
    assert aws_error(e)[0] == "AccessDeniedException"


def test_missing_parameter_of_another_account_is_access_denied_too(consumer):
    arn = f"arn:aws:ssm:us-east-1:{PROVIDER}:parameter/privatelink-autowire/services/none"
    with pytest.raises(ClientError) as e:
        consumer.client("ssm").get_parameter(Name=arn)
    assert aws_error(e) == ("AccessDeniedException", denied_message(CONSUMER, "GetParameter", arn))


def test_standard_parameter_cannot_be_shared(provider, consumer):
    arn, name = new_parameter(provider, tier="Standard")
    share_arn = share(provider, [arn], [CONSUMER])
    associations = provider.client("ram").get_resource_share_associations(
        associationType="RESOURCE", resourceShareArns=[share_arn]
    )["resourceShareAssociations"]
    assert [(a["associatedEntity"], a["status"]) for a in associations] == [(arn, "FAILED")]
    assert "Advanced" in associations[0]["statusMessage"]
    with pytest.raises(ClientError) as e:
        consumer.client("ssm").get_parameter(Name=arn)
    assert aws_error(e)[0] == "AccessDeniedException"


def test_get_parameter_by_arn_in_own_account(provider):
    arn, name = new_parameter(provider, tier="Standard", value="mine")
    parameter = provider.client("ssm").get_parameter(Name=arn)["Parameter"]
    assert (parameter["Name"], parameter["Value"], parameter["ARN"]) == (name, "mine", arn)


def test_get_parameters_mixes_names_and_shared_arns(provider, consumer):
    shared_arn, _ = new_parameter(provider)
    share(provider, [shared_arn], [CONSUMER])
    own_arn, own_name = new_parameter(consumer, tier="Standard", value="own")
    result = consumer.client("ssm").get_parameters(
        Names=[shared_arn, own_name, "/privatelink-autowire/services/absent"]
    )
    assert {p["ARN"] for p in result["Parameters"]} == {shared_arn, own_arn}
    assert result["InvalidParameters"] == ["/privatelink-autowire/services/absent"]


def test_unsharing_stops_access(provider, consumer):
    arn, _ = new_parameter(provider)
    share_arn = share(provider, [arn], [CONSUMER])
    ram, ssm = provider.client("ram"), consumer.client("ssm")
    assert ssm.get_parameter(Name=arn)["Parameter"]["ARN"] == arn

    ram.disassociate_resource_share(resourceShareArn=share_arn, resourceArns=[arn])
    with pytest.raises(ClientError):
        ssm.get_parameter(Name=arn)

    ram.associate_resource_share(resourceShareArn=share_arn, resourceArns=[arn])
    assert ssm.get_parameter(Name=arn)["Parameter"]["ARN"] == arn

    ram.delete_resource_share(resourceShareArn=share_arn)
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=arn)
    assert aws_error(e)[0] == "AccessDeniedException"


def test_shared_parameter_updates_are_seen(provider, consumer):
    arn, name = new_parameter(provider, value="v1")
    share(provider, [arn], [CONSUMER])
    provider.client("ssm").put_parameter(Name=name, Value="v2", Type="String", Overwrite=True)
    parameter = consumer.client("ssm").get_parameter(Name=arn)["Parameter"]
    assert (parameter["Value"], parameter["Version"]) == ("v2", 2)
