"""Builders for the EventBridge / SNS / connection-notification tests (and the binary tests).

- `unique(prefix)`: a name no other test uses (the emulator is shared by the whole session);
- `function_arn(account)`: a new Lambda function ARN, so each test has its own outbox entry;
- `consumer_bus(session, allow_account=None, policy=None, org_id=None)`: a new custom event
  bus; PutPermission admits `allow_account` (Principal = the account ID), or `*` under an
  aws:PrincipalOrgID condition, and/or sets the given policy document → the bus ARN;
- `forward_rule(session, prefix, bus_arn, dead_letter_arn=None, role_arn=None)`: a rule on the
  session's default bus shaped like template.yaml's DescriptorForwardRule1 (Parameter Store
  Change events of names under `prefix/`, to `bus_arn` with a role, optionally a DLQ);
- `lambda_rule(session, pattern, bus=None, state="ENABLED", function=None, **target)`: a rule
  on `bus` (default: the default bus) sending matching events to `function` (default: a new
  Lambda function ARN), with the extra target fields given (Input, InputTransformer ...) → that
  ARN;
- `certificate_buses(session_a, session_b, function_arn_a, function_arn_b, names=None,
  admit=(True, True), dead_letter_arns=(None, None))`: the consumer-requested certificates'
  message path between provider A and consumer B → (bus ARN of A, bus ARN of B); see there.
  `join_certificate_consumer(session_a, bus_a, session_c, function_arn_a, function_arn_c)`
  adds a consumer C to A's bus (its own bus, rules and grants; A's answers go to every
  consumer's bus) → C's bus ARN;
  `put_certificate_event(session, bus, detail_type, detail)` puts one message on a bus;
- `events_queue(session, rule_prefix="")`: an SQS queue whose policy lets EventBridge rules of
  the session's account (named `rule_prefix*`) send to it → (queue URL, queue ARN);
- `receive_all(session, queue_url)`: the messages waiting in a queue (with attributes);
- `vpce_topic(session, source_arn="*", policy=True, function=None)`: an SNS topic whose policy lets
  vpce.amazonaws.com publish (as the PrivateLink guide writes it), with a Lambda subscription
  → (topic ARN, function ARN); `notify(session, topic, events=all four, ServiceId=... |
  VpcEndpointId=...)` creates a connection notification → it; `consumer_endpoints(session,
  service, count)` makes `count` interface endpoints to a ProviderNetwork's service → IDs.
"""

from __future__ import annotations

import itertools
import json
import uuid

from testbed_fixtures import REGION, build_consumer_vpc

_counter = itertools.count(1)

PARAMETER_CHANGE = {"source": ["aws.ssm"], "detail-type": ["Parameter Store Change"]}


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}"


def function_arn(account: str, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{unique('reconciler')}"


def consumer_bus(session, allow_account=None, policy=None, org_id=None) -> str:
    events = session.client("events")
    name = unique("autowire-consumer")
    arn = events.create_event_bus(Name=name)["EventBusArn"]
    grant = {"EventBusName": name, "Action": "events:PutEvents", "StatementId": unique("allow")}
    if allow_account:
        events.put_permission(Principal=allow_account, **grant)
    if org_id:
        condition = {"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": org_id}
        events.put_permission(Principal="*", Condition=condition, **grant)
    if policy:
        events.put_permission(EventBusName=name, Policy=json.dumps(policy))
    return arn


def forward_rule(session, prefix: str, bus_arn: str, dead_letter_arn=None, role_arn=None) -> str:
    """The provider template's forwarding rule, for parameters under `prefix`; → its name."""
    events = session.client("events")
    name = unique("autowire-forward")
    pattern = dict(PARAMETER_CHANGE, detail={"name": [{"prefix": f"{prefix}/"}]})
    events.put_rule(Name=name, State="ENABLED", EventPattern=json.dumps(pattern))
    target = {
        "Id": "ConsumerBus",
        "Arn": bus_arn,
        "RoleArn": role_arn or f"arn:aws:iam::{session.account_id}:role/descriptor-forward",
    }
    if dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": dead_letter_arn}
    events.put_targets(Rule=name, Targets=[target])
    return name


def lambda_rule(session, pattern: dict, bus=None, state="ENABLED", function=None, **target) -> str:
    """A rule sending events that match `pattern` to `function` (default: a new function ARN);
    → that ARN."""
    events = session.client("events")
    arn = function or function_arn(session.account_id)
    name = unique("autowire-to-lambda")
    bus_name = {"EventBusName": bus} if bus else {}
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), State=state, **bus_name)
    events.put_targets(Rule=name, Targets=[{"Id": "Reconciler", "Arn": arn, **target}], **bus_name)
    return arn


def events_queue(session, rule_prefix: str = "") -> tuple[str, str]:
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName=unique("autowire-events"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rules = f"arn:aws:events:{REGION}:{session.account_id}:rule/{rule_prefix}*"
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": rules}},
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def receive_all(session, queue_url: str) -> list[dict]:
    return session.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])


# ---------------------------------------------------------------- consumer-requested certificates

CERTIFICATE_SOURCE = "privatelink-autowire"
FROM_CONSUMER = ("Certificate Requested", "Certificate Released")  # B's messages to A
FROM_PROVIDER = ("Certificate Validation", "Certificate Ready", "Certificate Refused")  # A's to B


def certificate_buses(
    session_a,
    session_b,
    function_arn_a: str,
    function_arn_b: str,
    names: tuple[str, str] | None = None,
    admit: tuple[bool, bool] = (True, True),
    dead_letter_arns: tuple[str | None, str | None] = (None, None),
) -> tuple[str, str]:
    """Provider A (session_a) and consumer B (session_b) each get a custom bus (`names`, default
    new `autowire-a-...` / `autowire-b-...`) whose policy lets the other account
    events:PutEvents (unless `admit` says False for that bus), with two rules:

    - forwarding: {source: privatelink-autowire, account: [own], detail-type: what the side
      sends (A: FROM_PROVIDER, B: FROM_CONSUMER)} → the other bus, with a RoleArn of the own
      account and the side's dead-letter queue from `dead_letter_arns`, if any;
    - delivery: {source: privatelink-autowire, account: [the other]} → the side's function
      (the outbox).

    Each side then puts its messages on its own bus (put_certificate_event) and the other
    side's function gets them with `account` = the sender. → (bus ARN of A, bus ARN of B)."""
    names = names or (unique("autowire-a"), unique("autowire-b"))
    arn_a, arn_b = (
        own.client("events").create_event_bus(Name=bus)["EventBusArn"]
        for own, bus in ((session_a, names[0]), (session_b, names[1]))
    )
    _certificate_side(session_a, session_b.account_id, names[0], FROM_PROVIDER, function_arn_a,
                      arn_b, admit[0], dead_letter_arns[0])
    _certificate_side(session_b, session_a.account_id, names[1], FROM_CONSUMER, function_arn_b,
                      arn_a, admit[1], dead_letter_arns[1])
    return arn_a, arn_b


def join_certificate_consumer(
    session_a, bus_a: str, session_c, function_arn_a: str, function_arn_c: str, name=None
) -> str:
    """One more consumer C of provider A's certificate bus `bus_a` (an ARN certificate_buses
    gave): C gets its own bus (`name`, default a new `autowire-c-...`) with B's rules; A's bus
    admits C, forwards A's answers to C's bus as well (every consumer bus gets every answer, as
    the template's CertificateAnswerForwardRule does) and hands C's messages to A's function.
    → C's bus ARN."""
    name = name or unique("autowire-c")
    arn_c = session_c.client("events").create_event_bus(Name=name)["EventBusArn"]
    _certificate_side(session_a, session_c.account_id, bus_a.rsplit("/", 1)[-1], FROM_PROVIDER,
                      function_arn_a, arn_c)
    _certificate_side(session_c, session_a.account_id, name, FROM_CONSUMER, function_arn_c, bus_a)
    return arn_c


def _certificate_side(own, other: str, bus: str, sends, function: str, other_bus: str,
                      admit: bool = True, dead_letter_arn: str | None = None) -> None:
    """On `own`'s bus: a grant for account `other` (if `admit`), the forwarding rule of what
    `own` sends to `other_bus`, and the delivery rule of `other`'s messages to `function`."""
    events = own.client("events")
    if admit:
        events.put_permission(
            EventBusName=bus,
            Action="events:PutEvents",
            Principal=other,
            StatementId=f"allow-{other}",
        )
    own_pattern = {"source": [CERTIFICATE_SOURCE], "account": [own.account_id]}
    forward = unique("autowire-certificates-out")
    pattern = json.dumps(dict(own_pattern, **{"detail-type": list(sends)}))
    events.put_rule(Name=forward, EventBusName=bus, EventPattern=pattern)
    target = {
        "Id": "OtherAccountBus",
        "Arn": other_bus,
        "RoleArn": f"arn:aws:iam::{own.account_id}:role/autowire-certificate-forward",
    }
    if dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": dead_letter_arn}
    events.put_targets(Rule=forward, EventBusName=bus, Targets=[target])
    incoming = {"source": [CERTIFICATE_SOURCE], "account": [other]}
    lambda_rule(own, incoming, bus=bus, function=function)


def put_certificate_event(session, bus: str, detail_type: str, detail: dict) -> str:
    """PutEvents of one privatelink-autowire message on `bus` (name or ARN) → its event ID."""
    entry = {
        "Source": CERTIFICATE_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "EventBusName": bus,
    }
    answer = session.client("events").put_events(Entries=[entry])
    assert answer["FailedEntryCount"] == 0, answer
    return answer["Entries"][0]["EventId"]


# ---------------------------------------------------------------- connection notifications


def vpce_topic(session, source_arn="*", policy=True, function=None):
    """A topic whose policy lets vpce.amazonaws.com publish (as AWS's guide writes it) for
    sources like `source_arn`, and a Lambda subscription (of `function`, or a new function ARN)
    → (topic ARN, function ARN)."""
    sns = session.client("sns")
    topic = sns.create_topic(Name=unique("autowire-vpce"))["TopicArn"]
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "vpce.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": topic,
        "Condition": {
            "ArnLike": {"aws:SourceArn": source_arn},
            "StringEquals": {"aws:SourceAccount": session.account_id},
        },
    }
    if policy:
        document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=document)
    function = function or function_arn(session.account_id)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)
    return topic, function


def notify(session, topic, events=("Connect", "Accept", "Reject", "Delete"), **subject):
    return session.client("ec2").create_vpc_endpoint_connection_notification(
        ConnectionNotificationArn=topic, ConnectionEvents=list(events), **subject
    )["ConnectionNotification"]


def endpoint_to(session, service, subnet_ids, vpc_id):
    return session.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc_id,
        ServiceName=service.service_name,
        SubnetIds=subnet_ids,
    )["VpcEndpoint"]["VpcEndpointId"]


def consumer_endpoints(consumer, service, count):
    vpc_id, subnets = build_consumer_vpc(consumer, ["use1-az1"])
    return [endpoint_to(consumer, service, [subnets["use1-az1"]], vpc_id) for _ in range(count)]
