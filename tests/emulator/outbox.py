"""Client of the emulator's Lambda outbox (autowire_ext/lambda_outbox.py): the events AWS would
invoke a Lambda function with, for tests to hand to the real binary.

    events = wait_for_events(emulator_url, function_arn, count=1, timeout=10.0)

- `take_events(url, arn)`: the events waiting for that function ARN (oldest first), removed
  from the outbox;
- `wait_for_events(url, arn, count=1, timeout=10.0)`: takes events until at least `count`
  arrived and returns them all; raises TimeoutError (saying how many came) after `timeout`
  seconds;
- `outbox_counts(url)`: {function ARN: events waiting}, removing nothing;
- `control_request(url, body=None)`: GET (or, with a body, POST) JSON to any of the emulator's
  `/_autowire/...` endpoints → the decoded answer (urllib's HTTPError for a 4xx).
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

POLL_INTERVAL_S = 0.05


def control_request(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def take_events(emulator_url: str, function_arn: str) -> list[dict]:
    url = f"{emulator_url}/_autowire/outbox/take"
    return control_request(url, {"function_arn": function_arn})["events"]


def outbox_counts(emulator_url: str) -> dict[str, int]:
    return control_request(f"{emulator_url}/_autowire/outbox")


def wait_for_events(
    emulator_url: str, function_arn: str, count: int = 1, timeout: float = 10.0
) -> list[dict]:
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        events.extend(take_events(emulator_url, function_arn))
        if len(events) >= count:
            return events
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"{len(events)} of {count} event(s) for {function_arn} after {timeout} s"
            )
        time.sleep(POLL_INTERVAL_S)
