"""Parameter policies: an Expiration policy deletes the parameter at its time.

AWS behaviour (Systems Manager User Guide, "Assigning parameter policies"; PutParameter API):

- `Policies` is a JSON list of policies, each `{"Type", "Version", "Attributes"}`; the types are
  Expiration, ExpirationNotification and NoChangeNotification (anything else:
  InvalidPolicyTypeException); two Expiration policies conflict (IncompatiblePolicyException);
  an Expiration needs an ISO 8601 `Attributes.Timestamp` (otherwise
  InvalidPolicyAttributeException);
- policies belong to the advanced tier: `Intelligent-Tiering` with a policy makes the parameter
  Advanced; an explicit `Standard` tier with a policy is refused;
- at its Expiration timestamp Parameter Store deletes the parameter (every version).

Emulator modelling choices: the deletion happens as soon as the time has passed, checked
before every Parameter Store call of that account and Region; it sends no change event (AWS
sends a policy-action event, which nothing here consumes); the Standard-tier refusal is a
ValidationException whose message names the fix. A policy is described with its JSON text, its
type, and status Pending (moto described the policy's text as its type).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.ssm.models import Parameter, SimpleSystemManagerBackend

from ._common import LOCK, wrap

POLICY_TYPES = ("Expiration", "ExpirationNotification", "NoChangeNotification")


def _error(code: str, message: str) -> JsonRESTError:
    return JsonRESTError(code, message)


def _timestamp(text: Any) -> datetime:
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise _error(
            "InvalidPolicyAttributeException",
            f"Invalid Timestamp {text!r} in the Expiration policy: use ISO 8601, for example "
            "2026-12-31T23:59:59.000Z.",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def expiry_of(policies: str | None) -> datetime | None:
    """The Expiration time of a parameter's policies (validated), or None."""
    if not policies:
        return None
    try:
        parsed = json.loads(policies)
    except ValueError:
        raise _error("InvalidPolicyAttributeException", "Policies is not a JSON list.") from None
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise _error("InvalidPolicyAttributeException", "Policies is not a JSON list.")
    expiries = []
    for policy in parsed:
        kind = policy.get("Type") if isinstance(policy, dict) else None
        if kind not in POLICY_TYPES:
            raise _error(
                "InvalidPolicyTypeException",
                f"The policy type {kind!r} isn't supported. Parameter Store supports the "
                "following policy types: Expiration, ExpirationNotification, and "
                "NoChangeNotification.",
            )
        if kind == "Expiration":
            expiries.append(_timestamp((policy.get("Attributes") or {}).get("Timestamp")))
    if len(expiries) > 1:
        raise _error(
            "IncompatiblePolicyException",
            "There is a conflict in the policies specified for this parameter: two "
            "Expiration policies.",
        )
    return expiries[0] if expiries else None


def sweep(backend: Any) -> list[str]:
    """Delete the backend's parameters whose Expiration has passed; their names."""
    now = datetime.now(timezone.utc)
    gone = []
    with LOCK:
        for name, versions in list(dict.items(backend._parameters)):
            if not versions:
                continue
            try:
                when = expiry_of(versions[-1].policies)
            except JsonRESTError:
                continue
            if when is not None and when <= now:
                dict.pop(backend._parameters, name, None)
                backend._resource_tags.get("Parameter", {}).pop(name, None)
                gone.append(name)
    return gone


def _put_parameter(original):
    def put_parameter(self, *args: Any, **kwargs: Any) -> Any:
        sweep(self)
        policies = kwargs.get("policies")
        if policies:
            expiry_of(policies)
            tier = kwargs.get("tier")
            if tier == "Standard":
                raise _error(
                    "ValidationException",
                    "Parameter policies are supported only for advanced parameters: set Tier "
                    "to Advanced (or Intelligent-Tiering).",
                )
            if tier in (None, "Intelligent-Tiering"):
                kwargs["tier"] = "Advanced"
        return original(self, *args, **kwargs)

    return put_parameter


def _swept_first(original):
    def call(self, *args: Any, **kwargs: Any) -> Any:
        sweep(self)
        return original(self, *args, **kwargs)

    return call


def _response_object(original):
    """Each policy as AWS describes it: its JSON text, its type, and Pending until it acts."""

    def response_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        r = original(self, *args, **kwargs)
        if "Policies" in r:
            r["Policies"] = [
                {"PolicyText": json.dumps(p), "PolicyType": p.get("Type"), "PolicyStatus": "Pending"}
                for p in json.loads(self.policies)
                if isinstance(p, dict)
            ]
        return r

    return response_object


def apply() -> str:
    wrap(Parameter, "response_object", _response_object)
    wrap(SimpleSystemManagerBackend, "put_parameter", _put_parameter)
    for name in ("get_parameter", "get_parameters", "get_parameters_by_path", "describe_parameters",
                 "delete_parameter", "delete_parameters"):
        wrap(SimpleSystemManagerBackend, name, _swept_first)
    return "parameter-expiration-policies"
