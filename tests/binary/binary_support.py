"""Helpers for driving the real provider binary the way CloudFormation does, shared by the
binary tests (fixtures in conftest.py).

`CloudFormation.send(fn, event)` invokes the function, follows the asynchronous invocations it
hands its wait to (the harness's relay, `async_relay=True`) to the end, and returns the one new
answer the capture server got, checking there is exactly one.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Optional

from fault_proxy import is_mutating
from lambda_harness import LambdaHarness
from testbed_fixtures import PROVIDER, REGION, function_env
from testbed_util import skip_or_fail

RESPONSE_LIMIT = 4096


def bootstrap(name: str) -> str:
    """A function's binary: AUTOWIRE_<NAME>_BOOTSTRAP, else the workspace's debug build."""
    path = os.environ.get(f"AUTOWIRE_{name.upper()}_BOOTSTRAP")
    if not path:
        target = os.environ.get("CARGO_TARGET_DIR") or str(
            Path(__file__).resolve().parents[2] / "target")
        path = str(Path(target) / "debug" / name)
    if not Path(path).is_file():
        skip_or_fail(f"{name} binary not built at {path}: run `make test`")
    return path


def provider_bootstrap() -> str:
    return bootstrap("provider")


def consumer_bootstrap() -> str:
    return bootstrap("consumer")


def harness(name: str, session, proxy, timeout_s: float, env: Optional[dict] = None) -> LambdaHarness:
    """Function `name` acting as `session`'s account, its AWS calls through the fault proxy, with
    the async invoke relay so its continuations run, and `env` added to its environment."""
    return LambdaHarness(
        bootstrap(name), name, env={**function_env(session, proxy.url), **(env or {})},
        timeout_s=timeout_s, account=session.account_id, region=REGION, async_relay=True,
    )


def provider_harness(session, proxy, timeout_s: float, env: Optional[dict] = None) -> LambdaHarness:
    return harness("provider", session, proxy, timeout_s, env)


def consumer_harness(session, proxy, timeout_s: float) -> LambdaHarness:
    return harness("consumer", session, proxy, timeout_s)


CLAIMS_PATH = "/privatelink-autowire/claims/"  # the functions' default one-chain marker path


def is_marker(call: dict) -> bool:
    """A one-chain marker's write (cfn/claims.rs): an expiring parameter, not a resource."""
    return call.get("action") == "PutParameter" and str(call.get("name")).startswith(CLAIMS_PATH)


def mutating(proxy, calls: Optional[list[dict]] = None) -> list[str]:
    """The calls (through the fault proxy) that were not Describe*/List*/Get*, the one-chain
    markers of hand-overs apart (see `markers`)."""
    calls = proxy.calls() if calls is None else calls
    return [c["action"] for c in calls if is_mutating(c) and not is_marker(c)]


def markers(proxy) -> list[str]:
    """The parameter names of the one-chain markers written through the proxy."""
    return [c["name"] for c in proxy.calls() if is_marker(c)]


def bare_zone_id(zone_id: str) -> str:
    return zone_id.rsplit("/", 1)[-1]


def norm(name: str) -> str:
    return name.lower().rstrip(".")


def record_sets(session, zone_id: str, rtype: str) -> dict[str, list[str]]:
    """{name without final dot: [values]} of the zone's `rtype` record sets."""
    r53 = session.client("route53")
    out: dict[str, list[str]] = {}
    for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        for rrset in page["ResourceRecordSets"]:
            if rrset["Type"] == rtype:
                out[norm(rrset["Name"])] = [r["Value"] for r in rrset.get("ResourceRecords", [])]
    return out


class CloudFormation:
    """Plays CloudFormation for one stack: builds custom-resource requests, delivers them to a
    LambdaHarness, and reads the answers the function PUT to the capture server."""

    def __init__(self, capture, account: str = PROVIDER, stack_name: str = "binary-tests"):
        self.capture = capture
        self.stack_id = (f"arn:aws:cloudformation:{REGION}:{account}:stack/"
                         f"{stack_name}/{uuid.uuid4()}")

    def event(self, fn, kind: str, resource_type: str, logical_id: str, props: dict,
              physical_id: Optional[str] = None, old: Optional[dict] = None) -> dict:
        rid = str(uuid.uuid4())
        e = {
            "RequestType": kind,
            "ServiceToken": fn.function_arn,
            "ResponseURL": self.capture.response_url(f"/{rid}"),
            "StackId": self.stack_id,
            "RequestId": rid,
            "ResourceType": resource_type,
            "LogicalResourceId": logical_id,
            "ResourceProperties": {"ServiceToken": fn.function_arn, **props},
        }
        if physical_id is not None:
            e["PhysicalResourceId"] = physical_id
        if old is not None:
            e["OldResourceProperties"] = {"ServiceToken": fn.function_arn, **old}
        return e

    def answers(self, e: dict) -> list[dict]:
        """Every answer PUT for this request so far (accepted ones)."""
        return [r["body"] for r in self.capture.responses("/" + e["RequestId"])]

    def send(self, fn, e: dict, timeout: float = 90.0) -> dict:
        """Invoke `fn` with `e`, wait for every continuation it starts, and return the one new
        answer (a request sent again gets one more answer, not several)."""
        path = "/" + e["RequestId"]
        before = len(self.capture.attempts(path))
        invocations = [fn.invoke_detailed(e)]
        if fn.relay is not None:
            invocations += fn.drain_async(timeout)
        for inv in invocations:
            assert inv.ok and not inv.timed_out, (
                f"invocation failed: {inv.error}\n" + "\n".join(l.line for l in inv.logs[-20:]))
        got = self.capture.wait_for(path, count=before + 1, timeout=10)
        attempts = self.capture.attempts(path)
        assert len(got) == before + 1 and len(attempts) == before + 1, (
            f"expected exactly one new answer, got {len(attempts) - before}: "
            f"{[a['body'] for a in attempts[before:]]}")
        body = got[-1]["body"]
        assert body["RequestId"] == e["RequestId"] and body["StackId"] == self.stack_id
        assert body["LogicalResourceId"] == e["LogicalResourceId"]
        assert len(json.dumps(body)) <= RESPONSE_LIMIT
        if body["Status"] == "FAILED":
            assert 0 < len(body["Reason"]) < 256 and "\n" not in body["Reason"], body["Reason"]
        return body


def log_messages(fn) -> list[dict]:
    """The function's JSON log lines as {message, ...fields}, spans left out."""
    out = []
    for j in fn.json_logs():
        fields = j.get("fields") or {}
        if "message" in fields:
            out.append(fields)
    return out
