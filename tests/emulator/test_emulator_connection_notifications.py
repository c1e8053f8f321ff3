"""Behaviour 15: VPC endpoint connection notifications — managing them, and their SNS messages
on Connect, Accept, Reject and Delete (through an SNS `lambda` subscription into the outbox)."""

import json
import re

import pytest
from botocore.exceptions import ClientError

from eventbed import consumer_endpoints, notify, unique, vpce_topic
from outbox import take_events
from testbed_fixtures import CONSUMER, PROVIDER, REGION, aws_error


@pytest.fixture(scope="module")
def service(provider, provider_network):
    return provider_network(
        provider, ["use1-az1", "use1-az2"], acceptance_required=True, allowed_accounts=[CONSUMER]
    )


def messages(emulator_url, function):
    events = take_events(emulator_url, function)
    return [json.loads(e["Records"][0]["Sns"]["Message"]) for e in events]


def new_notification(session, service) -> str:
    topic, _ = vpce_topic(session)
    return notify(session, topic, ServiceId=service.service_id)["ConnectionNotificationId"]


def state_of(session, notification_id) -> str:
    [notification] = session.client("ec2").describe_vpc_endpoint_connection_notifications(
        ConnectionNotificationId=notification_id
    )["ConnectionNotificationSet"]
    return notification["ConnectionNotificationState"]


def listed_ids(session) -> set[str]:
    listed = session.client("ec2").describe_vpc_endpoint_connection_notifications()
    return {n["ConnectionNotificationId"] for n in listed["ConnectionNotificationSet"]}


# ---------------------------------------------------------------- managing notifications


def test_create_answers_aws_shape_and_is_idempotent(provider, service):
    topic, _ = vpce_topic(provider)
    ec2 = provider.client("ec2")
    token = unique("token")
    request = dict(
        ServiceId=service.service_id,
        ConnectionNotificationArn=topic,
        ConnectionEvents=["Connect", "Accept"],
        ClientToken=token,
    )
    answer = ec2.create_vpc_endpoint_connection_notification(**request)
    assert answer["ClientToken"] == token
    notification = dict(answer["ConnectionNotification"])
    assert re.fullmatch(r"vpce-nfn-[0-9a-f]{17}", notification.pop("ConnectionNotificationId"))
    assert notification == {
        "ServiceId": service.service_id,
        "ConnectionNotificationType": "Topic",
        "ConnectionNotificationArn": topic,
        "ConnectionEvents": ["Connect", "Accept"],
        "ConnectionNotificationState": "Enabled",
    }
    again = ec2.create_vpc_endpoint_connection_notification(**request)
    assert again["ConnectionNotification"] == answer["ConnectionNotification"]
    with pytest.raises(ClientError) as e:
        ec2.create_vpc_endpoint_connection_notification(
            **dict(request, ConnectionEvents=["Delete"])
        )
    assert aws_error(e)[0] == "IdempotentParameterMismatch"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"ConnectionEvents": ["Connect", "Bogus"]}, "InvalidParameter"),
        ({"ConnectionNotificationArn": f"arn:aws:sqs:{REGION}:{PROVIDER}:q"}, "InvalidParameter"),
        ({"ServiceId": None}, "InvalidParameter"),
        ({"ServiceId": "vpce-svc-0123456789abcdef0"}, "InvalidVpcEndpointServiceId.NotFound"),
    ],
    ids=["bad-event", "not-a-topic", "no-subject", "unknown-service"],
)
def test_create_refuses_bad_requests(provider, service, change, code):
    topic, _ = vpce_topic(provider)
    request = {
        "ServiceId": service.service_id,
        "ConnectionNotificationArn": topic,
        "ConnectionEvents": ["Connect"],
        **change,
    }
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(ClientError) as e:
        provider.client("ec2").create_vpc_endpoint_connection_notification(**request)
    assert aws_error(e)[0] == code


def test_only_the_owner_manages_a_services_notifications(provider, consumer, service):
    topic, _ = vpce_topic(consumer)
    with pytest.raises(ClientError) as e:
        notify(consumer, topic, ServiceId=service.service_id)
    assert aws_error(e) == (
        "InvalidVpcEndpointServiceId.NotFound",
        f"The VpcEndpointService Id '{service.service_id}' does not exist",
    )
    assert new_notification(provider, service) not in listed_ids(consumer)


def test_describe_by_id_and_filters(provider, service):
    describe = provider.client("ec2").describe_vpc_endpoint_connection_notifications
    first = notify(provider, vpce_topic(provider)[0], ServiceId=service.service_id)
    nid, topic = first["ConnectionNotificationId"], first["ConnectionNotificationArn"]
    assert describe(ConnectionNotificationId=nid)["ConnectionNotificationSet"] == [first]
    by_arn = describe(Filters=[{"Name": "connection-notification-arn", "Values": [topic]}])
    assert by_arn["ConnectionNotificationSet"] == [first]
    with pytest.raises(ClientError) as e:
        describe(ConnectionNotificationId="vpce-nfn-00000000000000000")
    assert aws_error(e)[0] == "InvalidConnectionNotification"
    with pytest.raises(ClientError) as e:
        describe(Filters=[{"Name": "colour", "Values": ["x"]}])
    assert aws_error(e)[0] == "InvalidParameterValue"


def test_modify_changes_topic_and_events(provider, consumer, service):
    ec2 = provider.client("ec2")
    nid = new_notification(provider, service)
    other_topic, _ = vpce_topic(provider)
    assert ec2.modify_vpc_endpoint_connection_notification(
        ConnectionNotificationId=nid,
        ConnectionNotificationArn=other_topic,
        ConnectionEvents=["Reject"],
    )["ReturnValue"]
    [now] = ec2.describe_vpc_endpoint_connection_notifications(ConnectionNotificationId=nid)[
        "ConnectionNotificationSet"
    ]
    assert (now["ConnectionNotificationArn"], now["ConnectionEvents"]) == (other_topic, ["Reject"])
    with pytest.raises(ClientError) as e:
        consumer.client("ec2").modify_vpc_endpoint_connection_notification(
            ConnectionNotificationId=nid, ConnectionEvents=["Accept"]
        )
    assert aws_error(e)[0] == "InvalidConnectionNotification"


def test_delete_reports_unknown_ids_as_unsuccessful(provider, service):
    nid, unknown = new_notification(provider, service), "vpce-nfn-0123456789abcdef0"
    answer = provider.client("ec2").delete_vpc_endpoint_connection_notifications(
        ConnectionNotificationIds=[nid, unknown]
    )
    assert answer["Unsuccessful"] == [
        {
            "ResourceId": unknown,
            "Error": {
                "Code": "InvalidConnectionNotification",
                "Message": f"The connection notification '{unknown}' does not exist",
            },
        }
    ]
    assert nid not in listed_ids(provider)


# ---------------------------------------------------------------- publishing


def test_connection_events_are_published_to_the_topic(provider, consumer, service, emulator_url):
    service_arn = f"arn:aws:ec2:{REGION}:{PROVIDER}:vpc-endpoint-service/{service.service_id}"
    topic, function = vpce_topic(provider, source_arn=service_arn)
    nid = notify(provider, topic, ServiceId=service.service_id)["ConnectionNotificationId"]
    kept, refused = consumer_endpoints(consumer, service, 2)
    ec2 = provider.client("ec2")
    ec2.accept_vpc_endpoint_connections(ServiceId=service.service_id, VpcEndpointIds=[kept])
    ec2.reject_vpc_endpoint_connections(ServiceId=service.service_id, VpcEndpointIds=[refused])
    consumer.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[kept])
    got = messages(emulator_url, function)
    assert [(m["ConnectionEvent"], m["VpcEndpointId"], m["VpcEndpointState"]) for m in got] == [
        ("Connect", kept, "pendingAcceptance"),
        ("Connect", refused, "pendingAcceptance"),
        ("Accept", kept, "available"),
        ("Reject", refused, "rejected"),
        ("Delete", kept, "deleting"),
    ]
    sources = {(m["ConnectionNotificationId"], m["ServiceId"], m["VpcEndpointOwner"]) for m in got}
    assert sources == {(nid, service.service_id, CONSUMER)}


def test_only_subscribed_events_are_published(provider, consumer, service, emulator_url):
    topic, function = vpce_topic(provider)
    notify(provider, topic, events=["Accept"], ServiceId=service.service_id)
    [endpoint] = consumer_endpoints(consumer, service, 1)
    provider.client("ec2").accept_vpc_endpoint_connections(
        ServiceId=service.service_id, VpcEndpointIds=[endpoint]
    )
    assert [m["ConnectionEvent"] for m in messages(emulator_url, function)] == ["Accept"]


OTHER_SERVICE = f"arn:aws:ec2:{REGION}:{PROVIDER}:vpc-endpoint-service/vpce-svc-other"


@pytest.mark.parametrize(
    "topic_args",
    [{"policy": False}, {"source_arn": OTHER_SERVICE}],
    ids=["default-topic-policy", "policy-for-another-service"],
)
def test_topic_policy_must_let_privatelink_publish(
    provider, consumer, service, emulator_url, topic_args
):
    topic, function = vpce_topic(provider, **topic_args)
    nid = notify(provider, topic, ServiceId=service.service_id)["ConnectionNotificationId"]
    consumer_endpoints(consumer, service, 1)
    assert take_events(emulator_url, function) == []
    assert state_of(provider, nid) == "Disabled"


def test_disabled_notification_is_enabled_again_by_modify(
    provider, consumer, service, emulator_url
):
    closed, _ = vpce_topic(provider, policy=False)
    nid = notify(provider, closed, ServiceId=service.service_id)["ConnectionNotificationId"]
    consumer_endpoints(consumer, service, 1)
    assert state_of(provider, nid) == "Disabled"
    open_topic, function = vpce_topic(provider)
    provider.client("ec2").modify_vpc_endpoint_connection_notification(
        ConnectionNotificationId=nid, ConnectionNotificationArn=open_topic
    )
    assert state_of(provider, nid) == "Enabled"
    [endpoint] = consumer_endpoints(consumer, service, 1)
    assert [m["VpcEndpointId"] for m in messages(emulator_url, function)] == [endpoint]


def test_endpoint_notification_tells_the_consumer(provider, consumer, service, emulator_url):
    [endpoint] = consumer_endpoints(consumer, service, 1)
    topic, function = vpce_topic(consumer)
    notify(consumer, topic, events=["Accept"], VpcEndpointId=endpoint)
    provider.client("ec2").accept_vpc_endpoint_connections(
        ServiceId=service.service_id, VpcEndpointIds=[endpoint]
    )
    [message] = messages(emulator_url, function)
    assert (message["ConnectionEvent"], message["VpcEndpointId"]) == ("Accept", endpoint)
