"""Behaviour 14: the Lambda outbox over HTTP (and its client, outbox.py), and SNS `lambda`
subscriptions delivering AWS's SNS event into it."""

import json
import re
import urllib.error
import urllib.request

import pytest

from eventbed import function_arn, lambda_rule, unique
from outbox import outbox_counts, take_events, wait_for_events
from testbed_fixtures import CONSUMER, REGION, health

RECORD_KEYS = ["EventSource", "EventVersion", "EventSubscriptionArn", "Sns"]
SNS_KEYS = [
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertUrl",
    "UnsubscribeUrl",
    "MessageAttributes",
]


def tick(session, source, count=1):
    entries = [
        {"Source": source, "DetailType": "Tick", "Detail": json.dumps({"n": n})}
        for n in range(count)
    ]
    session.client("events").put_events(Entries=entries)


def http(url, data=None, method=None):
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------- HTTP API and client


def test_health_lists_the_event_extensions(emulator_url):
    assert {
        "lambda-outbox",
        "eventbridge-delivery",
        "parameter-store-change-events",
        "sns-to-lambda-outbox",
        "endpoint-connection-notifications",
    } <= set(health(emulator_url)["extensions"])


def test_counts_do_not_take_and_take_removes(consumer, emulator_url):
    source = unique("com.example.outbox")
    function = lambda_rule(consumer, {"source": [source]})
    tick(consumer, source, count=2)
    assert outbox_counts(emulator_url)[function] == 2
    assert outbox_counts(emulator_url)[function] == 2
    assert [e["detail"]["n"] for e in take_events(emulator_url, function)] == [0, 1]
    assert function not in outbox_counts(emulator_url)
    assert take_events(emulator_url, function) == []


def test_take_needs_a_function_arn(emulator_url):
    url = f"{emulator_url}/_autowire/outbox/take"
    assert http(url, data=b"{}")[0] == 400
    assert http(url, data=b"not json")[0] == 400
    assert http(url, data=json.dumps({"function_arn": 7}).encode())[0] == 400


def test_wrong_methods_are_refused(emulator_url):
    assert http(f"{emulator_url}/_autowire/outbox/take")[0] == 405
    assert http(f"{emulator_url}/_autowire/outbox", data=b"{}")[0] == 405


def test_wait_for_events_returns_once_enough_arrived(consumer, emulator_url):
    source = unique("com.example.outbox")
    function = lambda_rule(consumer, {"source": [source]})
    tick(consumer, source, count=3)
    assert len(wait_for_events(emulator_url, function, count=2, timeout=2)) == 3


def test_wait_for_events_times_out(emulator_url):
    with pytest.raises(TimeoutError, match="0 of 1 event"):
        wait_for_events(emulator_url, function_arn(CONSUMER), timeout=0.2)


# ---------------------------------------------------------------- SNS lambda subscriptions


def subscribed_topic(session, **attributes):
    sns = session.client("sns")
    topic = sns.create_topic(Name=unique("autowire-topic"))["TopicArn"]
    function = function_arn(session.account_id)
    subscription = sns.subscribe(
        TopicArn=topic, Protocol="lambda", Endpoint=function, Attributes=attributes
    )["SubscriptionArn"]
    return topic, function, subscription


def test_sns_lambda_subscription_gets_the_sns_event(consumer, emulator_url):
    topic, function, subscription = subscribed_topic(consumer)
    message_id = consumer.client("sns").publish(TopicArn=topic, Message="hello")["MessageId"]
    [event] = take_events(emulator_url, function)
    [record] = event["Records"]
    assert list(record) == RECORD_KEYS and list(record["Sns"]) == SNS_KEYS
    assert (record["EventSource"], record["EventVersion"]) == ("aws:sns", "1.0")
    assert record["EventSubscriptionArn"] == subscription
    sns = record["Sns"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sns.pop("Timestamp"))
    assert sns.pop("Signature")
    host = f"https://sns.{REGION}.amazonaws.com"
    assert re.fullmatch(
        re.escape(host) + r"/SimpleNotificationService-[0-9a-f]{32}\.pem", sns.pop("SigningCertUrl")
    )
    assert sns == {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic,
        "Subject": None,
        "Message": "hello",
        "SignatureVersion": "1",
        "UnsubscribeUrl": f"{host}/?Action=Unsubscribe&SubscriptionArn={subscription}",
        "MessageAttributes": {},
    }


def test_sns_subject_and_attributes_are_passed_on(consumer, emulator_url):
    topic, function, _ = subscribed_topic(consumer)
    consumer.client("sns").publish(
        TopicArn=topic,
        Message="m",
        Subject="Descriptor changed",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "orders"}},
    )
    [event] = take_events(emulator_url, function)
    sns = event["Records"][0]["Sns"]
    assert sns["Subject"] == "Descriptor changed"
    assert sns["MessageAttributes"] == {"kind": {"Type": "String", "Value": "orders"}}


def test_sns_filter_policy_and_message_structure_apply(consumer, emulator_url):
    topic, function, _ = subscribed_topic(consumer, FilterPolicy=json.dumps({"kind": ["orders"]}))
    sns = consumer.client("sns")
    wanted = {"kind": {"DataType": "String", "StringValue": "orders"}}
    other = {"kind": {"DataType": "String", "StringValue": "other"}}
    sns.publish(TopicArn=topic, Message="skipped", MessageAttributes=other)
    structured = json.dumps({"default": "plain", "lambda": "for lambda"})
    sns.publish(
        TopicArn=topic, Message=structured, MessageStructure="json", MessageAttributes=wanted
    )
    assert [e["Records"][0]["Sns"]["Message"] for e in take_events(emulator_url, function)] == [
        "for lambda"
    ]
