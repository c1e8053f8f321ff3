"""VPC endpoint connection notifications (EC2 API reference:
CreateVpcEndpointConnectionNotification, DescribeVpcEndpointConnectionNotifications,
ModifyVpcEndpointConnectionNotification, DeleteVpcEndpointConnectionNotifications;
PrivateLink guide, "Receive alerts for endpoint service events"). moto 5.2.5 has none of the
four actions.

Managing them (EC2 errors are HTTP 400):

- a notification is for one endpoint service (`ServiceId`, which the caller must own) or one
  interface endpoint (`VpcEndpointId`, the caller's); both or neither: `InvalidParameter`
  (*emulator wording*); another account's or an unknown service:
  `InvalidVpcEndpointServiceId.NotFound` / `The VpcEndpointService Id '<id>' does not exist`;
  an unknown endpoint: `InvalidVpcEndpointId.NotFound`;
- `ConnectionEvents`: one or more of Accept, Connect, Delete, Reject, else `InvalidParameter`;
  `ConnectionNotificationArn`: an SNS topic ARN, else `InvalidParameter` (both *emulator
  wording*); whether the topic exists is not checked here, only when publishing;
- the answer: `ConnectionNotification {ConnectionNotificationId: vpce-nfn-<17 hex>,
  ServiceId | VpcEndpointId, ConnectionNotificationType: Topic, ConnectionNotificationArn,
  ConnectionEvents, ConnectionNotificationState: Enabled}` and the `ClientToken` sent; a token
  seen before with the same parameters returns the same notification, with others
  `IdempotentParameterMismatch`;
- Describe lists the caller's notifications; `ConnectionNotificationId` of none of them:
  `InvalidConnectionNotification`; filters connection-notification-arn, -id, -state, -type,
  service-id, vpc-endpoint-id (others `InvalidParameterValue`); MaxResults / NextToken;
- Modify changes the topic and/or the events (same checks), enables the notification again
  (see Disabled below) and answers `Return: true`; an ID that is not the caller's:
  `InvalidConnectionNotification`;
- Delete: IDs that are not the caller's come back as `Unsuccessful` items
  `InvalidConnectionNotification` / `The connection notification '<id>' does not exist`
  (the code is the one AWS SDK users meet; the message is *emulator wording*).

Publishing: when endpoints.py announces a connection event — Connect (a consumer's
CreateVpcEndpoint made a new endpoint to the service; also when the service needs no
acceptance, which then sends no Accept), Accept / Reject (AcceptVpcEndpointConnections /
RejectVpcEndpointConnections, per endpoint), Delete (DeleteVpcEndpoints of an endpoint to the
service) — each Enabled notification of that service, and of that endpoint, subscribed to the
event publishes one message to its topic through moto's SNS backend (so the topic's
subscriptions get it; `lambda` ones through sns_lambda into the outbox). AWS publishes as the
service principal `vpce.amazonaws.com`: the topic's access policy must allow it `SNS:Publish`
(the request carries aws:SourceArn = `arn:aws:ec2:<region>:<owner>:vpc-endpoint-service/<id>`,
or `.../vpc-endpoint/<id>`, and aws:SourceAccount = the owner). When it does not (moto's
default topic policy grants only the owner's own principals), or the topic does not exist,
nothing is published and the notification turns `ConnectionNotificationState: Disabled`;
a Disabled notification publishes nothing more until ModifyVpcEndpointConnectionNotification
enables it again. (*Inferred*: the API offers no way to set Disabled, so AWS must set it
itself, and a failed publication is the one cause in sight; the re-enabling by Modify is an
emulator choice.)

The message body: AWS's documentation does not show it, so the emulator publishes *its own*
JSON, with no Subject — a consumer must treat it only as a trigger:

    {"ConnectionNotificationId": "vpce-nfn-...", "ConnectionEvent": "Connect",
     "ServiceId": "vpce-svc-...", "VpcEndpointId": "vpce-...", "VpcEndpointOwner": "<acct>",
     "VpcEndpointState": "pendingAcceptance", "EventTime": "YYYY-MM-DDTHH:MM:SS.mmmZ"}
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import iso_8601_datetime_with_milliseconds
from moto.ec2.exceptions import InvalidVpcEndPointIdError
from moto.ec2.responses import EC2Response

from ._common import (
    CONNECTION_LISTENERS,
    LOCK,
    ec2_error,
    filtered,
    page,
    partition_of,
    rand_hex,
    remember_token,
    token_resource,
)
from ._policy import Caller, allows
from .endpoint_services import _own_config

EVENTS = ("Accept", "Connect", "Delete", "Reject")
VPCE_SERVICE = Caller(service="vpce.amazonaws.com")
_TOPIC_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$")
_FILTERS = {
    "connection-notification-arn": "ConnectionNotificationArn",
    "connection-notification-id": "ConnectionNotificationId",
    "connection-notification-state": "ConnectionNotificationState",
    "connection-notification-type": "ConnectionNotificationType",
    "service-id": "ServiceId",
    "vpc-endpoint-id": "VpcEndpointId",
}


def _store(backend: Any) -> dict[str, dict[str, Any]]:
    return backend.__dict__.setdefault("_autowire_connection_notifications", {})


def _not_found_message(notification_id: str) -> str:
    return f"The connection notification '{notification_id}' does not exist"


def _own(response: Any, notification_id: str) -> dict[str, Any]:
    notification = _store(response.ec2_backend).get(notification_id)
    if notification is None:
        raise ec2_error("InvalidConnectionNotification", _not_found_message(notification_id))
    return notification


# ---------------------------------------------------------------- checks


def _check_events(events: list[str]) -> None:
    wrong = [e for e in events if e not in EVENTS]
    if not events or wrong:
        raise ec2_error(
            "InvalidParameter",
            f"Invalid connection events: {', '.join(wrong) or '(none)'}. "
            "Valid values are Accept, Connect, Delete and Reject.",
        )


def _check_topic(arn: str | None) -> None:
    if not _TOPIC_ARN.match(arn or ""):
        raise ec2_error(
            "InvalidParameter", f"The connection notification ARN {arn} is not an SNS topic ARN."
        )


def _subject(response: Any) -> dict[str, str]:
    """{"ServiceId": ...} or {"VpcEndpointId": ...}, once the caller is found to own it."""
    service_id = response._get_param("ServiceId")
    endpoint_id = response._get_param("VpcEndpointId")
    if bool(service_id) == bool(endpoint_id):
        raise ec2_error("InvalidParameter", "Specify either a ServiceId or a VpcEndpointId.")
    if service_id:
        return {"ServiceId": _own_config(response, service_id).id}
    endpoint = response.ec2_backend.vpc_end_points.get(endpoint_id)
    if endpoint is None or endpoint.state == "deleted":
        raise InvalidVpcEndPointIdError(endpoint_id)
    return {"VpcEndpointId": endpoint.id}


# ---------------------------------------------------------------- actions


def _new_notification(response: Any, subject: dict, arn: str, events: list[str]) -> dict:
    notification = {
        "ConnectionNotificationId": f"vpce-nfn-{rand_hex(17)}",
        **subject,
        "ConnectionNotificationType": "Topic",
        "ConnectionNotificationArn": arn,
        "ConnectionEvents": events,
        "ConnectionNotificationState": "Enabled",
    }
    notification_id = notification["ConnectionNotificationId"]
    _store(response.ec2_backend)[notification_id] = notification
    remember_token(response, "connection-notification", notification_id)
    return notification


def create_vpc_endpoint_connection_notification(self) -> ActionResult:
    arn = self._get_param("ConnectionNotificationArn")
    events = list(self._get_param("ConnectionEvents", []) or [])
    _check_events(events)
    _check_topic(arn)
    subject = _subject(self)
    with LOCK:
        known = token_resource(self, "connection-notification")
        notification = _store(self.ec2_backend).get(known) if known else None
        if notification is None:
            notification = _new_notification(self, subject, arn, events)
    result: dict[str, Any] = {"ConnectionNotification": dict(notification)}
    if self._get_param("ClientToken"):
        result["ClientToken"] = self._get_param("ClientToken")
    return ActionResult(result)


def describe_vpc_endpoint_connection_notifications(self) -> ActionResult:
    wanted = self._get_param("ConnectionNotificationId")
    with LOCK:
        notifications = [dict(n) for n in _store(self.ec2_backend).values()]
    if wanted:
        notifications = [_own(self, wanted)]
    notifications = filtered(notifications, self._get_param("Filters", []), _FILTERS)
    return ActionResult(page(self, notifications, "ConnectionNotificationSet"))


def modify_vpc_endpoint_connection_notification(self) -> ActionResult:
    arn = self._get_param("ConnectionNotificationArn")
    events = self._get_param("ConnectionEvents")
    with LOCK:
        notification = _own(self, self._get_param("ConnectionNotificationId"))
        if arn is not None:
            _check_topic(arn)
        if events is not None:
            _check_events(list(events))
        if arn is not None:
            notification["ConnectionNotificationArn"] = arn
        if events is not None:
            notification["ConnectionEvents"] = list(events)
        notification["ConnectionNotificationState"] = "Enabled"
    return ActionResult({"ReturnValue": True})


def delete_vpc_endpoint_connection_notifications(self) -> ActionResult:
    unsuccessful = []
    with LOCK:
        store = _store(self.ec2_backend)
        for notification_id in self._get_param("ConnectionNotificationIds", []) or []:
            if store.pop(notification_id, None) is None:
                error = {
                    "Code": "InvalidConnectionNotification",
                    "Message": _not_found_message(notification_id),
                }
                unsuccessful.append({"ResourceId": notification_id, "Error": error})
    return ActionResult({"Unsuccessful": unsuccessful})


# ---------------------------------------------------------------- publishing


def _message(notification: dict[str, Any], config: Any, endpoint: Any, event: str) -> str:
    return json.dumps(
        {
            "ConnectionNotificationId": notification["ConnectionNotificationId"],
            "ConnectionEvent": event,
            "ServiceId": config.id,
            "VpcEndpointId": endpoint.id,
            "VpcEndpointOwner": endpoint.ec2_backend.account_id,
            "VpcEndpointState": endpoint.state,
            "EventTime": iso_8601_datetime_with_milliseconds(),
        }
    )


def _publish(notification: dict[str, Any], source_arn: str, owner: str, message: str) -> bool:
    """Publishes as vpce.amazonaws.com, if the topic exists and its policy lets the service."""
    from moto.sns.models import sns_backends

    arn = notification["ConnectionNotificationArn"]
    parts = arn.split(":")
    backend = sns_backends[parts[4]][parts[3]]
    topic = backend.topics.get(arn)
    context = {"aws:SourceArn": source_arn, "aws:SourceAccount": owner}
    if topic is None or not allows(topic.policy, "SNS:Publish", VPCE_SERVICE, arn, context):
        return False
    backend.publish(message, arn=arn)
    return True


def _watchers(config: Any, endpoint: Any) -> list[tuple[Any, str, str, str]]:
    """(EC2 backend, subject key, subject ID, source ARN) of whoever may be notified."""
    region = config.ec2_backend.region_name
    prefix = f"arn:{partition_of(region)}:ec2:{region}"
    service_owner, endpoint_owner = config.ec2_backend, endpoint.ec2_backend
    return [
        (
            service_owner,
            "ServiceId",
            config.id,
            f"{prefix}:{service_owner.account_id}:vpc-endpoint-service/{config.id}",
        ),
        (
            endpoint_owner,
            "VpcEndpointId",
            endpoint.id,
            f"{prefix}:{endpoint_owner.account_id}:vpc-endpoint/{endpoint.id}",
        ),
    ]


def on_connection_event(config: Any, endpoint: Any, event: str) -> None:
    for backend, key, subject_id, source_arn in _watchers(config, endpoint):
        with LOCK:
            chosen = [
                n
                for n in _store(backend).values()
                if n.get(key) == subject_id
                and event in n["ConnectionEvents"]
                and n["ConnectionNotificationState"] == "Enabled"
            ]
        for notification in chosen:
            message = _message(notification, config, endpoint, event)
            if not _publish(notification, source_arn, backend.account_id, message):
                with LOCK:
                    notification["ConnectionNotificationState"] = "Disabled"


def apply() -> str:
    for handler in (
        create_vpc_endpoint_connection_notification,
        describe_vpc_endpoint_connection_notifications,
        modify_vpc_endpoint_connection_notification,
        delete_vpc_endpoint_connection_notifications,
    ):
        setattr(EC2Response, handler.__name__, handler)
    if on_connection_event not in CONNECTION_LISTENERS:
        CONNECTION_LISTENERS.append(on_connection_event)
    return "endpoint-connection-notifications"
