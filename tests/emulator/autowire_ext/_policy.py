"""Just enough IAM policy evaluation for the resource policies the test bed honours: event bus
policies (events:PutEvents), SNS topic policies (SNS:Publish by a service) and SQS queue
policies (sqs:SendMessage by EventBridge).

IAM rules kept (IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements"):

- a request is allowed only if some `Allow` statement matches it and no `Deny` statement does;
- `Action` / `NotAction` and `Resource` / `NotResource` match case-insensitively with `*` and `?`
  wildcards; a statement with neither Resource nor NotResource matches any resource;
- `Principal`: `"*"` is everyone, services included; `{"AWS": ...}` names accounts (12-digit
  ID or `arn:aws:iam::<acct>:root`: every principal of the account), roles or users by ARN, or
  `"*"` for every AWS account principal. `{"AWS": ...}` never admits an AWS service, which
  is named with `{"Service": "<name>.amazonaws.com"}` (*emulator choice*: AWS's own examples
  always grant services by Service principal);
- `Condition`: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringLike,
  StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, with the `ForAnyValue:` /
  `ForAllValues:` prefixes ignored; keys compare case-insensitively; a key the request does
  not carry fails a positive operator and satisfies a negated one; an unknown operator fails
  closed.

moto's PutPermission turns `Principal="*"` into `{"AWS": "arn:aws:iam::*:root"}`; that reads as
`*` here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_ROOT = re.compile(r"^arn:aws(?:-cn|-us-gov)?:iam::(\d{12}|\*):root$")


@dataclass(frozen=True)
class Caller:
    """Who makes the request: an account's principal (optionally a role ARN) or a service."""

    account: str | None = None
    arn: str | None = None
    service: str | None = None


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _glob(pattern: str, value: str, ignore_case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _aws_principal_admits(entry: str, caller: Caller) -> bool:
    if caller.service is not None:
        return False
    if entry == "*":
        return True
    if entry == caller.account or (caller.arn is not None and entry == caller.arn):
        return True
    m = _ROOT.match(entry)
    return bool(m and m.group(1) in ("*", caller.account))


def principal_admits(principal: Any, caller: Caller) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if any(_aws_principal_admits(str(e), caller) for e in _listed(principal.get("AWS"))):
        return True
    return caller.service is not None and caller.service in _listed(principal.get("Service"))


def _condition_holds(operator: str, key: str, wanted: Any, context: dict[str, Any]) -> bool:
    op = operator.split(":", 1)[-1]
    negated = "Not" in op
    base = op.replace("Not", "")
    actual = context.get(key.lower())
    if actual is None:
        return negated
    if base in ("StringEquals", "ArnEquals"):
        matched = any(str(actual) == str(w) for w in _listed(wanted))
    elif base == "StringEqualsIgnoreCase":
        matched = any(str(actual).lower() == str(w).lower() for w in _listed(wanted))
    elif base in ("StringLike", "ArnLike"):
        matched = any(_glob(str(w), str(actual), ignore_case=False) for w in _listed(wanted))
    else:
        return False  # an operator this evaluator does not know: fail closed
    return matched != negated


def _conditions_hold(conditions: dict[str, Any] | None, context: dict[str, Any]) -> bool:
    for operator, pairs in (conditions or {}).items():
        for key, wanted in (pairs or {}).items():
            if not _condition_holds(operator, key, wanted, context):
                return False
    return True


def _element_matches(statement: dict[str, Any], name: str, value: str) -> bool:
    if name in statement:
        return any(_glob(str(p), value) for p in _listed(statement[name]))
    if "Not" + name in statement:
        return not any(_glob(str(p), value) for p in _listed(statement["Not" + name]))
    return name == "Resource"


def _statement_matches(statement, action, caller, resource, context) -> bool:
    return (
        principal_admits(statement.get("Principal"), caller)
        and _element_matches(statement, "Action", action)
        and _element_matches(statement, "Resource", resource)
        and _conditions_hold(statement.get("Condition"), context)
    )


def allows(
    policy: str | dict[str, Any] | None,
    action: str,
    caller: Caller,
    resource: str,
    context: dict[str, Any] | None = None,
) -> bool:
    """Does the resource policy allow `caller` to do `action` on `resource`?"""
    if not policy:
        return False
    document = json.loads(policy) if isinstance(policy, str) else policy
    keys = {k.lower(): v for k, v in (context or {}).items() if v is not None}
    verdicts = [
        str(s.get("Effect", "")).lower()
        for s in _listed(document.get("Statement"))
        if _statement_matches(s, action, caller, resource, keys)
    ]
    return "allow" in verdicts and "deny" not in verdicts
