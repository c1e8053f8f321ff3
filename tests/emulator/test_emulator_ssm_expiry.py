"""Parameter policies: an Expiration policy deletes the parameter at its time; bad policies and
a Standard tier with a policy are refused as Parameter Store refuses them."""

import itertools
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import aws_error

_names = itertools.count(1)


def expiration(seconds):
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return {"Type": "Expiration", "Version": "1.0",
            "Attributes": {"Timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z")}}


def put(ssm, policies, **extra):
    name = f"/privatelink-autowire/claims/test/{next(_names)}"
    ssm.put_parameter(Name=name, Value="chain", Type="String", Policies=json.dumps(policies),
                      **extra)
    return name


def test_expiring_parameter_is_advanced_and_gone_after_its_time(provider):
    ssm = provider.client("ssm")
    name = put(ssm, [expiration(2)], Tier="Advanced")
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]
    assert described["Tier"] == "Advanced"
    assert described["Policies"][0]["PolicyType"] == "Expiration"
    assert json.loads(described["Policies"][0]["PolicyText"])["Type"] == "Expiration"
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "chain"
    time.sleep(2.5)
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=name)
    assert aws_error(e)[0] == "ParameterNotFound"
    listed = ssm.get_parameters_by_path(Path="/privatelink-autowire/claims/test")["Parameters"]
    assert name not in [p["Name"] for p in listed]


def test_intelligent_tiering_with_a_policy_is_advanced(provider):
    ssm = provider.client("ssm")
    name = put(ssm, [expiration(3600)], Tier="Intelligent-Tiering")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "chain"
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]
    assert described["Tier"] == "Advanced"


def test_an_unexpired_marker_still_refuses_a_second_create(provider):
    ssm = provider.client("ssm")
    name = put(ssm, [expiration(3600)], Tier="Advanced")
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name, Value="other", Type="String", Tier="Advanced",
                          Policies=json.dumps([expiration(3600)]))
    assert aws_error(e)[0] == "ParameterAlreadyExists"


@pytest.mark.parametrize(
    "policies, tier, code",
    [
        ([expiration(60)], "Standard", "ValidationException"),
        ([{"Type": "Shred", "Version": "1.0", "Attributes": {}}], "Advanced",
         "InvalidPolicyTypeException"),
        ([expiration(60), expiration(120)], "Advanced", "IncompatiblePolicyException"),
        ([{"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "soon"}}],
         "Advanced", "InvalidPolicyAttributeException"),
    ],
)
def test_bad_policies_are_refused_and_nothing_is_written(provider, policies, tier, code):
    ssm = provider.client("ssm")
    name = f"/privatelink-autowire/claims/refused/{next(_names)}"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name, Value="x", Type="String", Tier=tier,
                          Policies=json.dumps(policies))
    assert aws_error(e)[0] == code
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=name)
    assert aws_error(e)[0] == "ParameterNotFound"
