"""Amazon SNS deliveries to Lambda functions the emulator does not run (Lambda Developer Guide,
"Invoking Lambda functions with Amazon SNS notifications"; SNS Developer Guide, "Fanout to
Lambda functions").

For every message published to a topic, a `lambda` subscription whose function moto's Lambda
backend does not know puts the event Lambda would be invoked with into the outbox
(lambda_outbox), under the subscription's endpoint (the function ARN):

    {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                  "EventSubscriptionArn": "<subscription ARN>",
                  "Sns": {"Type": "Notification", "MessageId": "<uuid>",
                          "TopicArn": "<topic ARN>", "Subject": null,
                          "Message": "<message>", "Timestamp": "YYYY-MM-DDTHH:MM:SS.mmmZ",
                          "SignatureVersion": "1", "Signature": "<base64>",
                          "SigningCertUrl": "<host>/SimpleNotificationService-<hex>.pem",
                          "UnsubscribeUrl":
                              "<host>/?Action=Unsubscribe&SubscriptionArn=<subscription ARN>",
                          "MessageAttributes": {}}}]}

(`<host>`: https://sns.<region>.amazonaws.com)

- `Subject` is null when the message has none; `MessageAttributes` are the published ones as
  `{"<name>": {"Type": ..., "Value": ...}}`, `{}` without any;
- the subscription's filter policy and MessageStructure=json (the `lambda` or `default`
  message) apply as moto applies them;
- `Signature` is random base64 of an RSA-2048 signature's length: not verifiable (the
  certificate URL is not served).

Functions moto knows keep moto's own invocation. Not modelled: the function's resource policy
(AWS needs it to let sns.amazonaws.com invoke the function).
"""

from __future__ import annotations

import base64
import os
from typing import Any

from moto.core.utils import iso_8601_datetime_with_milliseconds
from moto.sns.models import Subscription

from . import lambda_outbox
from ._common import rand_hex, wrap

_CERTIFICATE = f"SimpleNotificationService-{rand_hex(32)}.pem"


def _moto_runs(function_arn: str) -> bool:
    """Does moto's Lambda backend have this function (it then invokes it itself)?"""
    from moto.awslambda.utils import get_backend

    parts = function_arn.split(":")
    qualifier = parts[7] if len(parts) > 7 else None
    try:
        get_backend(parts[4], parts[3])._lambdas.get_function_by_name_or_arn_with_qualifier(
            parts[6], qualifier
        )
    except Exception:
        return False
    return True


def sns_event(subscription: Any, message: str, message_id: str, subject, attributes) -> dict:
    region = subscription.topic.sns_backend.region_name
    host = f"https://sns.{region}.amazonaws.com"
    record = {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription.arn,
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": subscription.topic.arn,
            "Subject": subject,
            "Message": message,
            "Timestamp": iso_8601_datetime_with_milliseconds(),
            "SignatureVersion": "1",
            "Signature": base64.b64encode(os.urandom(256)).decode(),
            "SigningCertUrl": f"{host}/{_CERTIFICATE}",
            "UnsubscribeUrl": f"{host}/?Action=Unsubscribe&SubscriptionArn={subscription.arn}",
            "MessageAttributes": dict(attributes or {}),
        },
    }
    return {"Records": [record]}


def _publish(original):
    def publish(self, message, message_id, subject=None, message_attributes=None, **kwargs):
        if self.protocol != "lambda" or _moto_runs(self.endpoint):
            return original(self, message, message_id, subject, message_attributes, **kwargs)
        matcher = self._filter_policy_matcher
        if matcher is not None and not matcher.matches(message_attributes, message):
            return None
        if kwargs.get("message_structure") == "json":
            message = self._parse_message_structure(message, self.protocol)
        event = sns_event(self, message, message_id, subject, message_attributes)
        lambda_outbox.append(self.endpoint, event)
        return None

    return publish


def apply() -> str:
    wrap(Subscription, "publish", _publish)
    return "sns-to-lambda-outbox"
