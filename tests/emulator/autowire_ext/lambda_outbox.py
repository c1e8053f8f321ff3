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
import json
import re
import threading
from typing import Any

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


def _answer(status: str, body: Any) -> tuple[str, bytes]:
    return status, json.dumps(body).encode()


def _take_request(environ: dict[str, Any]) -> tuple[str, bytes]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"null")
    except (ValueError, KeyError):
        return _answer("400 Bad Request", {"error": "the body must be JSON"})
    arn = request.get("function_arn") if isinstance(request, dict) else None
    if not isinstance(arn, str) or not arn:
        return _answer("400 Bad Request", {"error": "function_arn (a string) is required"})
    return _answer("200 OK", {"events": take(arn)})


def handle(environ: dict[str, Any]) -> tuple[str, bytes] | None:
    """(status, JSON body) for an outbox request; None for any other path."""
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    if path == PREFIX:
        return _answer("200 OK", counts()) if method == "GET" else _method_not_allowed()
    if path == PREFIX + "/take":
        return _take_request(environ) if method == "POST" else _method_not_allowed()
    return None


def _method_not_allowed() -> tuple[str, bytes]:
    return _answer("405 Method Not Allowed", {"error": "method not allowed"})


def apply() -> str:
    return "lambda-outbox"
