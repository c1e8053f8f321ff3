"""EventBridge delivery to rule targets as AWS does it (EventBridge User Guide: "Event bus
targets", "Sending and receiving events between AWS accounts", "Transforming target input",
"Using dead-letter queues to process undelivered events").

moto's Rule.send_to_targets is patched:

- a DISABLED rule matches nothing (moto delivered to it anyway);
- **Lambda function targets**: the event the function would be invoked with goes to the outbox
  (lambda_outbox): the target's `Input` (constant JSON), else its `InputPath` (a JSONPath into
  the event), else its `InputTransformer` (moto's template parser), else the whole event
  `{version, id, detail-type, source, account, time, region, resources, detail}` with `time`
  as `YYYY-MM-DDTHH:MM:SSZ`. (The function's resource policy is not checked: the test bed's
  functions are not in moto.)
- **SQS queue targets**: the message body is that same payload (moto left out `account` and
  ignored `Input`). The queue's policy must let the service `events.amazonaws.com` do
  sqs:SendMessage on it (AWS needs this resource-based permission; the request carries
  aws:SourceArn = the rule's ARN and aws:SourceAccount = the rule's account).
- **Event bus targets**, in the same account or another: the event goes onto that bus
  unchanged — same `id`, `account` (the original sender's), `source`, `detail-type`,
  `resources`, `time`, `region`, `detail` — and through that bus's rules (moto re-sent it as a
  new event of the receiving account). A bus of another account takes it only if its resource
  policy (PutPermission, with statement parameters or a whole Policy) allows
  `events:PutEvents` on the bus to the sender (see _policy: the account ID,
  `arn:aws:iam::<acct>:root`, the target's RoleArn, or `*` under conditions). Condition keys
  offered: aws:PrincipalAccount, aws:PrincipalOrgID, events:source, events:detail-type.
  **Organizations**: aws:PrincipalOrgID is the sender's organization in moto's Organizations
  backend — the one the account manages after CreateOrganization, or the one that made it
  with CreateAccount (moto can't invite existing accounts). An event that already came from
  another account is not passed on to a bus of another account again
  (`THIRD_ACCOUNT_HOP_DETECTED`).
- **Undelivered events** (no such queue or bus: `NO_RESOURCE`; a resource policy refuses:
  `NO_PERMISSIONS`) go to the target's DeadLetterConfig queue, if it has one that EventBridge
  may write to (same policy check as an SQS target), as the event itself with the String
  message attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE and RETRY_ATTEMPTS
  (`0`: AWS does not retry these errors); otherwise they are dropped. The ERROR_MESSAGE texts
  are *emulator wording*.

Delivery is synchronous, inside the API call that made the event. Other targets (CloudWatch
Logs, archives, API destinations) keep moto's behaviour. `put_on_default_bus(event)` is how
AWS services' own events (ssm_events) enter EventBridge.
"""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from typing import Any, Callable

from moto.core.utils import unix_time
from moto.events.models import Rule, events_backends
from moto.events.utils import EventTemplateParser

from . import lambda_outbox
from ._common import wrap
from ._policy import Caller, allows

AWS_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources")
EVENTS_SERVICE = Caller(service="events.amazonaws.com")


class Undeliverable(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------- event shapes


def iso_time(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        value = value.replace(tzinfo=value.tzinfo or datetime.timezone.utc).timestamp()
    if isinstance(value, (int, float)):
        moment = datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def new_event(
    account: str, region: str, source: str, detail_type: str, resources: list, detail: dict
) -> dict[str, Any]:
    """An event as moto carries it between rules (float `time`, an `ingestion-time`)."""
    now = unix_time()
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": now,
        "region": region,
        "resources": list(resources),
        "detail": detail,
        "ingestion-time": now,
    }


def aws_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as AWS hands it to a target."""
    out = {key: copy.deepcopy(event.get(key)) for key in AWS_KEYS}
    out["version"] = out["version"] or "0"
    out["time"] = iso_time(event.get("time"))
    out["resources"] = out["resources"] or []
    out["detail"] = copy.deepcopy(event.get("detail") or {})
    return out


def _transform(transformer: dict[str, Any], public: dict, event: dict) -> Any:
    template = transformer.get("InputTemplate") or ""
    template = template.replace("<aws.events.event.json>", json.dumps(public))
    timed = dict(public, **{"ingestion-time": event.get("ingestion-time", unix_time())})
    return EventTemplateParser.parse(template, transformer.get("InputPathsMap") or {}, timed)


def target_payload(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the target receives: Input, InputPath, InputTransformer or the whole event."""
    public = aws_event(event)
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse

        matches = parse(target["InputPath"]).find(public)
        return matches[0].value if matches else None
    if target.get("InputTransformer"):
        return _transform(target["InputTransformer"], public, event)
    return public


# ---------------------------------------------------------------- queues


def _queue(arn: str) -> tuple[Any, Any]:
    """(SQS backend, queue or None) of a queue ARN."""
    from moto.sqs import sqs_backends

    parts = arn.split(":")
    backend = sqs_backends[parts[4]][parts[3]]
    return backend, backend.queues.get(parts[5])


def _writable_queue(rule: Any, arn: str) -> tuple[Any, Any]:
    backend, queue = _queue(arn)
    if queue is None:
        raise Undeliverable("NO_RESOURCE", f"The queue {arn} does not exist.")
    context = {"aws:SourceArn": rule.arn, "aws:SourceAccount": rule.account_id}
    if not allows(queue.policy, "sqs:SendMessage", EVENTS_SERVICE, queue.queue_arn, context):
        raise Undeliverable(
            "NO_PERMISSIONS",
            f"EventBridge is not authorized to perform sqs:SendMessage on resource {arn}.",
        )
    return backend, queue


def _dead_letter(rule: Any, target: dict[str, Any], event: dict, failure: Undeliverable) -> None:
    arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not arn:
        return
    try:
        backend, queue = _writable_queue(rule, arn)
    except Undeliverable:
        return  # AWS counts it in InvocationsFailedToBeSentToDlq; the event is lost
    values = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": target["Arn"],
        "ERROR_CODE": failure.code,
        "ERROR_MESSAGE": failure.message,
        "RETRY_ATTEMPTS": "0",
    }
    attributes = {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}
    backend.send_message(queue.name, json.dumps(aws_event(event)), message_attributes=attributes)


# ---------------------------------------------------------------- buses


def organization_id(account_id: str) -> str | None:
    """The AWS Organizations organization of an account, as moto's backend knows it."""
    from moto.organizations.models import organizations_backends

    owner, partition = organizations_backends.master_accounts.get(account_id, (account_id, "aws"))
    backend = dict.get(dict.get(organizations_backends, owner) or {}, partition)
    org = getattr(backend, "org", None)
    return org.id if org is not None else None


def _bus_admits(bus: Any, rule: Any, target: dict[str, Any], event: dict) -> bool:
    caller = Caller(account=rule.account_id, arn=target.get("RoleArn"))
    context = {
        "aws:PrincipalAccount": rule.account_id,
        "aws:PrincipalOrgID": organization_id(rule.account_id),
        "events:source": event.get("source"),
        "events:detail-type": event.get("detail-type"),
    }
    return allows(bus.policy, "events:PutEvents", caller, bus.arn, context)


def put_on_bus(bus: Any, event: dict[str, Any]) -> None:
    """The event enters `bus`: every rule of the bus sees it."""
    for rule in list(bus.rules.values()):
        rule.send_to_targets(copy.deepcopy(event))


def put_on_default_bus(event: dict[str, Any]) -> None:
    """An AWS service's event enters its account's and Region's default bus."""
    put_on_bus(events_backends[event["account"]][event["region"]].event_buses["default"], event)


def _to_bus(rule: Any, target: dict[str, Any], event: dict) -> None:
    arn = target["Arn"]
    parts = arn.split(":")
    account, region, name = parts[4], parts[3], parts[5].split("/", 1)[1]
    crossing = account != rule.account_id
    if crossing and event.get("account") != rule.account_id:
        raise Undeliverable(
            "THIRD_ACCOUNT_HOP_DETECTED",
            f"The event from account {event.get('account')} can't be sent on to {arn}.",
        )
    bus = events_backends[account][region].event_buses.get(name)
    if bus is None:
        raise Undeliverable("NO_RESOURCE", f"Event bus {name} does not exist.")
    if crossing and not _bus_admits(bus, rule, target, event):
        raise Undeliverable(
            "NO_PERMISSIONS",
            f"The resource policy of {arn} does not allow events:PutEvents from account "
            f"{rule.account_id}.",
        )
    put_on_bus(bus, event)


# ---------------------------------------------------------------- other targets


def _to_function(rule: Any, target: dict[str, Any], event: dict) -> None:
    lambda_outbox.append(target["Arn"], target_payload(target, event))


def _to_queue(rule: Any, target: dict[str, Any], event: dict) -> None:
    backend, queue = _writable_queue(rule, target["Arn"])
    group = (target.get("SqsParameters") or {}).get("MessageGroupId")
    backend.send_message(queue.name, json.dumps(target_payload(target, event)), group_id=group)


def _delivery(arn: str) -> Callable[[Any, dict, dict], None] | None:
    if lambda_outbox.is_function_arn(arn):
        return _to_function
    parts = arn.split(":")
    if len(parts) >= 6 and parts[2] == "sqs":
        return _to_queue
    if len(parts) >= 6 and parts[2] == "events" and parts[5].startswith("event-bus/"):
        return _to_bus
    return None


def _deliver(rule: Any, target: dict[str, Any], event: dict) -> bool:
    """Delivers to a target this module handles; False for the others (moto's)."""
    deliver = _delivery(target.get("Arn", ""))
    if deliver is None:
        return False
    try:
        deliver(rule, target, event)
    except Undeliverable as failure:
        _dead_letter(rule, target, event, failure)
    return True


def _send_to_targets(original):
    def send_to_targets(self, event, transform_input: bool = True) -> None:
        if self.state != "ENABLED" or not self.event_pattern.matches_event(event):
            return
        others = [t for t in list(self.targets) if not _deliver(self, t, event)]
        if others:
            rest = copy.copy(self)
            rest.targets = others
            original(rest, event, transform_input)

    return send_to_targets


def apply() -> str:
    wrap(Rule, "send_to_targets", _send_to_targets)
    return "eventbridge-delivery"
