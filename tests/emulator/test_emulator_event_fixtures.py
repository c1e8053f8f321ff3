"""The reconciler's event fixtures (events/reconciler-*.json) have exactly the structure of what
the emulator delivers: same keys in the same order, same JSON types, also inside the SNS
Message."""

import json
from pathlib import Path

import pytest

from eventbed import (
    PARAMETER_CHANGE,
    consumer_bus,
    consumer_endpoints,
    forward_rule,
    lambda_rule,
    notify,
    unique,
    vpce_topic,
)
from outbox import take_events
from testbed_fixtures import CONSUMER, PROVIDER, REGION

EVENTS = Path(__file__).resolve().parents[2] / "events"
DESCRIPTOR = "/privatelink-autowire/services/orders"
OPERATIONS = {"create": "Create", "update": "Update", "delete": "Delete"}


def fixture(name: str):
    return json.loads((EVENTS / f"reconciler-{name}.json").read_text())


def shape(value):
    """Keys in order and JSON types, recursively; JSON held in a string is looked into."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, str) and value.startswith("{"):
        return ("json", shape(json.loads(value)))
    return type(value).__name__


@pytest.fixture(scope="module")
def service(provider, provider_network):
    return provider_network(
        provider, ["use1-az1"], acceptance_required=True, allowed_accounts=[CONSUMER]
    )


@pytest.fixture(scope="module")
def delivered(provider, consumer, emulator_url):
    """Create, Update and Delete of a descriptor, as delivered on the consumer's bus."""
    prefix = "/" + unique("autowire-fixtures")
    bus = consumer_bus(consumer, allow_account=PROVIDER)
    forward_rule(provider, prefix, bus)
    function = lambda_rule(consumer, PARAMETER_CHANGE, bus=bus)
    ssm, name = provider.client("ssm"), f"{prefix}/orders"
    ssm.put_parameter(Name=name, Value="{}", Type="String", Tier="Advanced")
    ssm.put_parameter(Name=name, Value="{}", Type="String", Overwrite=True)
    ssm.delete_parameter(Name=name)
    events = take_events(emulator_url, function)
    return {e["detail"]["operation"]: e for e in events}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_parameter_fixtures_are_shaped_as_delivered(delivered, name):
    event = fixture(f"parameter-{name}")
    assert shape(event) == shape(delivered[OPERATIONS[name]])
    assert (event["account"], event["region"], event["source"]) == (PROVIDER, REGION, "aws.ssm")
    assert event["detail"] == {"operation": OPERATIONS[name], "name": DESCRIPTOR, "type": "String"}
    assert event["resources"] == [f"arn:aws:ssm:{REGION}:{PROVIDER}:parameter{DESCRIPTOR}"]


def test_connection_notification_fixture_is_shaped_as_delivered(
    provider, consumer, service, emulator_url
):
    topic, function = vpce_topic(provider)
    notify(provider, topic, events=["Connect"], ServiceId=service.service_id)
    consumer_endpoints(consumer, service, 1)
    [produced] = take_events(emulator_url, function)
    event = fixture("connection-notification")
    assert shape(event) == shape(produced)
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    assert (message["ConnectionEvent"], message["VpcEndpointOwner"]) == ("Connect", CONSUMER)


@pytest.mark.parametrize("name", ["scheduled", "other-source"])
def test_other_eventbridge_fixtures_have_the_delivered_envelope(delivered, name):
    event, produced = fixture(name), delivered["Create"]
    assert list(event) == list(produced)
    assert shape({k: v for k, v in event.items() if k != "detail"}) == shape(
        {k: v for k, v in produced.items() if k != "detail"}
    )
    assert isinstance(event["detail"], dict)


def test_fixture_sources():
    scheduled, other = fixture("scheduled"), fixture("other-source")
    assert (scheduled["source"], scheduled["detail-type"], scheduled["detail"]) == (
        "aws.events",
        "Scheduled Event",
        {},
    )
    assert other["source"] == "aws.ec2"


def test_malformed_fixture_lacks_only_the_name(delivered):
    event, produced = fixture("malformed"), delivered["Update"]
    assert list(event) == list(produced)
    assert (event["source"], event["detail-type"]) == ("aws.ssm", "Parameter Store Change")
    assert list(event["detail"]) == [k for k in produced["detail"] if k != "name"]
