"""Behaviour 13 for consumer-requested certificates: messages between provider A's and consumer
B's custom event buses, both ways (eventbed.certificate_buses), and what a bus that does not
admit the sender does with them."""

import json
import re

from eventbed import (
    CERTIFICATE_SOURCE,
    certificate_buses,
    events_queue,
    function_arn,
    put_certificate_event,
    receive_all,
    unique,
)
from outbox import take_events
from testbed_fixtures import CONSUMER, PROVIDER, REGION

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def arrangement(provider, consumer, **options):
    """(A's function, B's function, A's bus ARN, B's bus ARN)."""
    function_a, function_b = function_arn(PROVIDER), function_arn(CONSUMER)
    names = (unique("autowire-a"), unique("autowire-b"))
    bus_a, bus_b = certificate_buses(
        provider, consumer, function_a, function_b, names=names, **options
    )
    assert bus_a == f"arn:aws:events:{REGION}:{PROVIDER}:event-bus/{names[0]}"
    assert bus_b == f"arn:aws:events:{REGION}:{CONSUMER}:event-bus/{names[1]}"
    return function_a, function_b, bus_a, bus_b


def test_messages_cross_both_ways_with_the_senders_account(provider, consumer, emulator_url):
    function_a, function_b, bus_a, bus_b = arrangement(provider, consumer)

    detail = {"name": "orders.consumer.example.net", "request": "r-1"}
    event_id = put_certificate_event(consumer, bus_b, "Certificate Requested", detail)
    [event] = take_events(emulator_url, function_a)
    assert TIME.match(event.pop("time"))
    assert event == {
        "version": "0",
        "id": event_id,
        "detail-type": "Certificate Requested",
        "source": CERTIFICATE_SOURCE,
        "account": CONSUMER,
        "region": REGION,
        "resources": [],
        "detail": detail,
    }
    assert take_events(emulator_url, function_b) == []  # not sent back to its sender

    records = {"records": [{"Name": "_x.orders.consumer.example.net.", "Value": "_y."}]}
    put_certificate_event(provider, bus_a, "Certificate Validation", records)
    [event] = take_events(emulator_url, function_b)
    assert (event["account"], event["detail-type"]) == (PROVIDER, "Certificate Validation")
    assert event["detail"] == records
    assert take_events(emulator_url, function_a) == []


def test_each_side_forwards_only_the_messages_it_sends(provider, consumer, emulator_url):
    function_a, function_b, bus_a, bus_b = arrangement(provider, consumer)
    for detail_type in ("Certificate Requested", "Certificate Released"):
        put_certificate_event(consumer, bus_b, detail_type, {})
    for detail_type in ("Certificate Validation", "Certificate Ready", "Certificate Refused"):
        put_certificate_event(provider, bus_a, detail_type, {})
    # The other direction's detail types, and another source, stay on the bus.
    put_certificate_event(consumer, bus_b, "Certificate Ready", {})
    put_certificate_event(provider, bus_a, "Certificate Requested", {})
    other = {"Source": "other", "DetailType": "Certificate Requested", "Detail": "{}"}
    consumer.client("events").put_events(Entries=[dict(other, EventBusName=bus_b)])
    assert [e["detail-type"] for e in take_events(emulator_url, function_a)] == [
        "Certificate Requested",
        "Certificate Released",
    ]
    assert [e["detail-type"] for e in take_events(emulator_url, function_b)] == [
        "Certificate Validation",
        "Certificate Ready",
        "Certificate Refused",
    ]


def test_a_bus_that_does_not_admit_the_sender_drops_to_its_dead_letter_queue(
    provider, consumer, emulator_url
):
    queue_url, queue_arn = events_queue(provider)
    function_a, function_b, bus_a, bus_b = arrangement(
        provider, consumer, admit=(True, False), dead_letter_arns=(queue_arn, None)
    )
    put_certificate_event(provider, bus_a, "Certificate Ready", {"certificate": "c-1"})
    assert take_events(emulator_url, function_b) == []
    [message] = receive_all(provider, queue_url)
    body = json.loads(message["Body"])
    assert (body["account"], body["detail-type"]) == (PROVIDER, "Certificate Ready")
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    rules_of_bus_a = f"arn:aws:events:{REGION}:{PROVIDER}:rule/{bus_a.split('/', 1)[1]}/"
    assert attributes["RULE_ARN"].startswith(rules_of_bus_a)
    assert (attributes["TARGET_ARN"], attributes["ERROR_CODE"]) == (bus_b, "NO_PERMISSIONS")
    # A's bus admits B: the other direction still works.
    put_certificate_event(consumer, bus_b, "Certificate Requested", {})
    assert len(take_events(emulator_url, function_a)) == 1


def test_without_a_dead_letter_queue_the_refused_event_is_lost(provider, consumer, emulator_url):
    function_a, function_b, bus_a, bus_b = arrangement(provider, consumer, admit=(False, True))
    put_certificate_event(consumer, bus_b, "Certificate Requested", {})  # PutEvents succeeds
    assert take_events(emulator_url, function_a) == []
    put_certificate_event(provider, bus_a, "Certificate Refused", {})
    assert len(take_events(emulator_url, function_b)) == 1
