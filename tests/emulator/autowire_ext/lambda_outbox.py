"""The outbox: invocations AWS would make of Lambda functions that the test bed does not run.

moto does not run our functions; tests run the real binaries under a runtime emulator. So
where AWS would invoke a function asynchronously (an EventBridge rule target, an SNS `lambda`
subscription), the emulator appends the invocation's event, exactly as the function would
receive it, to an in-memory outbox keyed by the function ARN as the target or subscription
names it. Tests take the events out and hand them to the binary.

HTTP, on the emulator itself:

- `POST /_autowire/outbox/take` with body `{"function_arn": "<arn>"}` answers
  `{"events": [...]}` (oldest first) and removes them; a body without a string
  `function_arn` is a 400 `{"error": "..."}`;
- `GET /_autowire/outbox` answers `{"<function arn>": <count>, ...}` for every ARN that has
  events waiting, removing nothing;
- any other method on these paths: 405.
"""

from __future__ import annotations

import copy
import re
import threading
from typing import Any

from ._common import http_answer, http_json_body, http_method_not_allowed

FUNCTION_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(?::[\w$-]+)?$"
)

_lock = threading.Lock()
_events: dict[str, list[Any]] = {}


def is_function_arn(arn: str) -> bool:
    return bool(FUNCTION_ARN.match(arn or ""))


def append(function_arn: str, event: Any) -> None:
    with _lock:
        _events.setdefault(function_arn, []).append(copy.deepcopy(event))


def take(function_arn: str) -> list[Any]:
    with _lock:
        return _events.pop(function_arn, [])


def counts() -> dict[str, int]:
    with _lock:
        return {arn: len(events) for arn, events in _events.items() if events}


# ---------------------------------------------------------------- HTTP

PREFIX = "/_autowire/outbox"


def _take_request(environ: dict[str, Any]) -> tuple[str, bytes]:
    try:
        request = http_json_body(environ)
    except (ValueError, KeyError):
        return http_answer("400 Bad Request", {"error": "the body must be JSON"})
    arn = request.get("function_arn") if isinstance(request, dict) else None
    if not isinstance(arn, str) or not arn:
        return http_answer("400 Bad Request", {"error": "function_arn (a string) is required"})
    return http_answer("200 OK", {"events": take(arn)})


def handle(environ: dict[str, Any]) -> tuple[str, bytes] | None:
    """(status, JSON body) for an outbox request; None for any other path."""
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    if path == PREFIX:
        return http_answer("200 OK", counts()) if method == "GET" else http_method_not_allowed()
    if path == PREFIX + "/take":
        return _take_request(environ) if method == "POST" else http_method_not_allowed()
    return None


def apply() -> str:
    return "lambda-outbox"
