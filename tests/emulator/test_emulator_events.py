"""Behaviour 13: Parameter Store Change events and EventBridge delivery (Lambda targets into the
outbox, SQS targets, buses of other accounts and their policies, dead-letter queues)."""

import json
import re

import pytest
from botocore.exceptions import ClientError

from eventbed import (
    PARAMETER_CHANGE,
    consumer_bus,
    events_queue,
    forward_rule,
    lambda_rule,
    receive_all,
    unique,
)
from outbox import take_events, wait_for_events
from testbed_fixtures import CONSUMER, OUTSIDER, PROVIDER, REGION

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
EVENT_KEYS = ["version", "id", "detail-type", "source", "account", "time", "region", "resources"]


def new_prefix() -> str:
    return "/" + unique("autowire-events")


def watched_prefix(session):
    """A parameter prefix of its own, and a function its change events go to (default bus)."""
    prefix = new_prefix()
    pattern = dict(PARAMETER_CHANGE, detail={"name": [{"prefix": f"{prefix}/"}]})
    return prefix, lambda_rule(session, pattern)


def put(session, name, value="{}", **kwargs):
    session.client("ssm").put_parameter(Name=name, Value=value, Type="String", **kwargs)


def changes(events):
    return [(e["detail"]["operation"], e["detail"]["name"], e["detail"]["type"]) for e in events]


# ---------------------------------------------------------------- Parameter Store Change


def test_new_parameter_makes_a_create_event(provider, emulator_url):
    prefix, function = watched_prefix(provider)
    name = f"{prefix}/orders"
    put(provider, name)
    [event] = wait_for_events(emulator_url, function)
    assert list(event) == EVENT_KEYS + ["detail"]
    assert UUID.match(event.pop("id")) and TIME.match(event.pop("time"))
    assert event == {
        "version": "0",
        "detail-type": "Parameter Store Change",
        "source": "aws.ssm",
        "account": PROVIDER,
        "region": REGION,
        "resources": [f"arn:aws:ssm:{REGION}:{PROVIDER}:parameter{name}"],
        "detail": {"operation": "Create", "name": name, "type": "String"},
    }


def test_overwrite_is_update_and_deletions_are_delete(provider, emulator_url):
    prefix, function = watched_prefix(provider)
    ssm = provider.client("ssm")
    a, b = f"{prefix}/a", f"{prefix}/b"
    put(provider, a, "1")
    put(provider, a, "2", Overwrite=True)
    ssm.put_parameter(Name=b, Value="x,y", Type="StringList")
    with pytest.raises(ClientError):
        put(provider, a, "3")  # exists, no Overwrite: no event
    ssm.delete_parameter(Name=a)
    with pytest.raises(ClientError):
        ssm.delete_parameter(Name=a)  # gone: no event
    ssm.delete_parameters(Names=[b, f"{prefix}/missing"])
    assert changes(take_events(emulator_url, function)) == [
        ("Create", a, "String"),
        ("Update", a, "String"),
        ("Create", b, "StringList"),
        ("Delete", a, "String"),
        ("Delete", b, "StringList"),
    ]


def test_description_and_secure_type_are_in_the_detail(provider, emulator_url):
    prefix, function = watched_prefix(provider)
    name = f"{prefix}/secret"
    provider.client("ssm").put_parameter(
        Name=name, Value="s", Type="SecureString", Description="Orders descriptor"
    )
    [event] = take_events(emulator_url, function)
    assert event["detail"] == {
        "operation": "Create",
        "name": name,
        "type": "SecureString",
        "description": "Orders descriptor",
    }


def test_disabled_rule_gets_nothing(provider, emulator_url):
    prefix = new_prefix()
    pattern = dict(PARAMETER_CHANGE, detail={"name": [{"prefix": f"{prefix}/"}]})
    function = lambda_rule(provider, pattern, state="DISABLED")
    put(provider, f"{prefix}/orders")
    assert take_events(emulator_url, function) == []


def test_put_events_reach_lambda_targets_as_aws_delivers_them(consumer, emulator_url):
    source = unique("com.example.autowire")
    function = lambda_rule(consumer, {"source": [source]})
    consumer.client("events").put_events(
        Entries=[{"Source": source, "DetailType": "Tick", "Detail": '{"n": 1}'}]
    )
    [event] = take_events(emulator_url, function)
    assert list(event) == EVENT_KEYS + ["detail"]
    assert (event["account"], event["source"], event["detail"]) == (CONSUMER, source, {"n": 1})
    assert TIME.match(event["time"])


# ---------------------------------------------------------------- target input


def test_lambda_target_input_forms(provider, emulator_url):
    prefix = new_prefix()
    pattern = dict(PARAMETER_CHANGE, detail={"name": [{"prefix": f"{prefix}/"}]})
    constant = lambda_rule(provider, pattern, Input='{"reconcile": "all"}')
    path = lambda_rule(provider, pattern, InputPath="$.detail")
    transformer = {
        "InputPathsMap": {"name": "$.detail.name", "operation": "$.detail.operation"},
        "InputTemplate": '{"descriptor": "<name>", "operation": "<operation>"}',
    }
    transformed = lambda_rule(provider, pattern, InputTransformer=transformer)
    wrapped = lambda_rule(
        provider, pattern, InputTransformer={"InputTemplate": '{"event": <aws.events.event.json>}'}
    )
    name = f"{prefix}/orders"
    put(provider, name)
    [whole] = take_events(emulator_url, wrapped)
    assert list(whole["event"]) == EVENT_KEYS + ["detail"] and whole["event"]["source"] == "aws.ssm"
    assert take_events(emulator_url, constant) == [{"reconcile": "all"}]
    assert take_events(emulator_url, path) == [
        {"operation": "Create", "name": name, "type": "String"}
    ]
    assert take_events(emulator_url, transformed) == [
        {"descriptor": name, "operation": "Create"}
    ]


def test_sqs_target_gets_the_whole_event_if_its_policy_lets_eventbridge(provider):
    prefix = new_prefix()
    pattern = json.dumps(dict(PARAMETER_CHANGE, detail={"name": [{"prefix": f"{prefix}/"}]}))
    allowed_url, allowed_arn = events_queue(provider)
    closed_url, closed_arn = events_queue(provider, rule_prefix="someone-else")
    events = provider.client("events")
    rule = unique("autowire-to-sqs")
    events.put_rule(Name=rule, EventPattern=pattern)
    events.put_targets(
        Rule=rule, Targets=[{"Id": "open", "Arn": allowed_arn}, {"Id": "closed", "Arn": closed_arn}]
    )
    put(provider, f"{prefix}/orders")
    [message] = receive_all(provider, allowed_url)
    body = json.loads(message["Body"])
    assert list(body) == EVENT_KEYS + ["detail"] and body["account"] == PROVIDER
    assert receive_all(provider, closed_url) == []


# ---------------------------------------------------------------- buses of other accounts


def forward_one(sender, receiver, emulator_url, bus_arn, role_arn=None):
    """A descriptor written under a forwarded prefix: (receiver's events, sender's DLQ)."""
    prefix = new_prefix()
    queue_url, queue_arn = events_queue(sender, rule_prefix="autowire-forward")
    forward_rule(sender, prefix, bus_arn, dead_letter_arn=queue_arn, role_arn=role_arn)
    function = lambda_rule(receiver, PARAMETER_CHANGE, bus=bus_arn)
    put(sender, f"{prefix}/orders")
    return take_events(emulator_url, function), receive_all(sender, queue_url)


def test_forwarded_event_is_the_providers_own_event(provider, consumer, emulator_url):
    """The template's forwarding rule, a consumer rule on the bus, a Lambda target."""
    prefix, here = watched_prefix(provider)
    bus = consumer_bus(consumer, allow_account=PROVIDER)
    forward_rule(provider, prefix, bus)
    there = lambda_rule(consumer, PARAMETER_CHANGE, bus=bus)
    put(provider, f"{prefix}/orders")
    [original] = take_events(emulator_url, here)
    [forwarded] = take_events(emulator_url, there)
    assert forwarded == original
    assert forwarded["account"] == PROVIDER and forwarded["region"] == REGION


def statement(principal, **extra):
    return {
        "Sid": unique("stmt").replace("-", ""),
        "Effect": "Allow",
        "Principal": principal,
        "Action": "events:PutEvents",
        "Resource": f"arn:aws:events:{REGION}:{CONSUMER}:event-bus/*",
        **extra,
    }


ROLE = f"arn:aws:iam::{PROVIDER}:role/descriptor-forward"


@pytest.mark.parametrize(
    "principal",
    [{"AWS": PROVIDER}, {"AWS": f"arn:aws:iam::{PROVIDER}:root"}, {"AWS": ROLE}],
    ids=["account-id", "root-arn", "forwarding-role"],
)
def test_bus_policy_admitting_the_sender_delivers(provider, consumer, emulator_url, principal):
    policy = {"Version": "2012-10-17", "Statement": [statement(principal)]}
    bus = consumer_bus(consumer, policy=policy)
    delivered, dead = forward_one(provider, consumer, emulator_url, bus, role_arn=ROLE)
    assert (len(delivered), dead) == (1, [])


@pytest.mark.parametrize(
    "bus_statement",
    [
        None,
        statement({"AWS": f"arn:aws:iam::{OUTSIDER}:root"}),
        statement({"AWS": f"arn:aws:iam::{PROVIDER}:role/someone-else"}),
        statement(
            {"AWS": PROVIDER}, Condition={"StringEquals": {"events:source": ["com.example"]}}
        ),
    ],
    ids=["no-policy", "other-account", "other-role", "condition-unmet"],
)
def test_bus_policy_refusing_the_sender_dead_letters(
    provider, consumer, emulator_url, bus_statement
):
    policy = {"Version": "2012-10-17", "Statement": [bus_statement]} if bus_statement else None
    bus = consumer_bus(consumer, policy=policy)
    delivered, [message] = forward_one(provider, consumer, emulator_url, bus, role_arn=ROLE)
    assert delivered == []
    event = json.loads(message["Body"])
    assert (event["account"], event["source"]) == (PROVIDER, "aws.ssm")
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes.pop("RULE_ARN").startswith(f"arn:aws:events:{REGION}:{PROVIDER}:rule/")
    assert attributes.pop("ERROR_MESSAGE")
    assert attributes == {"TARGET_ARN": bus, "ERROR_CODE": "NO_PERMISSIONS", "RETRY_ATTEMPTS": "0"}


def organization_of(session) -> str:
    organizations = session.client("organizations")
    try:
        return organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    except ClientError:  # already in one (an emulator reused across sessions)
        return organizations.describe_organization()["Organization"]["Id"]


def test_organization_condition_admits_members_only(account, consumer, emulator_url):
    member, stranger = account("444444444444"), account("555555555555")
    bus = consumer_bus(consumer, org_id=organization_of(member))
    delivered, dead = forward_one(member, consumer, emulator_url, bus)
    assert (len(delivered), dead) == (1, [])
    delivered, [message] = forward_one(stranger, consumer, emulator_url, bus)
    assert delivered == []
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"


def test_undelivered_event_without_dead_letter_queue_is_dropped(provider, consumer, emulator_url):
    prefix, here = watched_prefix(provider)
    bus = consumer_bus(consumer)  # no policy
    forward_rule(provider, prefix, bus)
    there = lambda_rule(consumer, PARAMETER_CHANGE, bus=bus)
    put(provider, f"{prefix}/orders")  # succeeds all the same
    assert len(take_events(emulator_url, here)) == 1
    assert take_events(emulator_url, there) == []


def test_dead_letter_queue_eventbridge_may_not_write_to_gets_nothing(provider, consumer):
    prefix = new_prefix()
    queue_url, queue_arn = events_queue(provider, rule_prefix="someone-else")
    forward_rule(provider, prefix, consumer_bus(consumer), dead_letter_arn=queue_arn)
    put(provider, f"{prefix}/orders")
    assert receive_all(provider, queue_url) == []


def test_unknown_bus_dead_letters_no_resource(provider, consumer, emulator_url):
    bus = f"arn:aws:events:{REGION}:{CONSUMER}:event-bus/{unique('absent')}"
    prefix = new_prefix()
    queue_url, queue_arn = events_queue(provider, rule_prefix="autowire-forward")
    forward_rule(provider, prefix, bus, dead_letter_arn=queue_arn)
    put(provider, f"{prefix}/orders")
    [message] = receive_all(provider, queue_url)
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_RESOURCE"


def test_forwarded_event_is_not_sent_on_to_a_third_account(
    provider, consumer, outsider, emulator_url
):
    prefix = new_prefix()
    middle = consumer_bus(consumer, allow_account=PROVIDER)
    last = consumer_bus(outsider, allow_account=CONSUMER)
    forward_rule(provider, prefix, middle)
    middle_name = middle.split("/")[-1]
    queue_url, queue_arn = events_queue(consumer, rule_prefix=f"{middle_name}/")
    events = consumer.client("events")
    events.put_rule(Name="onwards", EventBusName=middle, EventPattern=json.dumps(PARAMETER_CHANGE))
    target = {"Id": "last", "Arn": last, "DeadLetterConfig": {"Arn": queue_arn}}
    events.put_targets(Rule="onwards", EventBusName=middle, Targets=[target])
    function = lambda_rule(outsider, PARAMETER_CHANGE, bus=last)
    put(provider, f"{prefix}/orders")
    assert take_events(emulator_url, function) == []
    [message] = receive_all(consumer, queue_url)
    code = message["MessageAttributes"]["ERROR_CODE"]["StringValue"]
    assert code == "THIRD_ACCOUNT_HOP_DETECTED"
