#!/usr/bin/env python3
"""Fuzz the real Lambda binaries with generated events, on the test bed.

    python tests/binary/fuzz.py [--events 1000] [--seed 1] [--timeout-s 10]

CloudFormation custom-resource requests, bent by seeded mutations (wrong types, missing and
unknown fields, huge values, odd Unicode, deep nesting, bad ResponseURLs, unknown RequestType,
wrong ResourceType, odd PhysicalResourceIds, forged continuations...), go to the provider and
consumer binaries; the reconciler and the probe get garbage of their own. One event at a time,
each through its function's runtime emulator (lambda_harness.py), continuations followed.

The verdicts:
- every event whose ResponseURL the function may use (the test bed's capture server) gets
  exactly one answer there, SUCCESS or FAILED, well formed; the capture server fails some PUTs
  first (the function must retry, and still answer once);
- an event with a ResponseURL the function must refuse (or none) is answered nowhere: not at the
  capture server, and not through the HTTP proxy every function is given (a loopback sink that
  counts any request: nothing leaves for another host);
- no panic in any function's output, no hang (every invocation ends within the function's
  timeout), no crash of the process.

Deterministic for a seed: the events are generated before anything runs, with placeholders for
what each run's test bed makes (ports, IDs); `events digest` identifies them. Needs the emulator
(AUTOWIRE_EMULATOR_URL; `make fuzz` starts one) and the debug binaries
(AUTOWIRE_<FUNCTION>_BOOTSTRAP, else the workspace's target/debug).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "emulator"))
sys.path.insert(0, str(HERE))

from binary_support import harness  # noqa: E402
from capture import CaptureServer  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from lambda_harness import HarnessError  # noqa: E402
from testbed_fixtures import REGION, assume_account, build_provider_network  # noqa: E402
from testbed_util import LOOPBACK, LoopbackHttpServer, read_request_body  # noqa: E402

ACCOUNT = "777777777777"  # no other test uses it: whatever the fuzz makes stays here
PREFIX = "http://127.0.0.1:"  # the only ResponseURLs the test bed lets a function use
CFN_TYPES = {
    "provider": ["Custom::ServicePublication", "Custom::ServiceCertificate"],
    "consumer": ["Custom::ServiceEndpoint"],
}
ALL_TYPES = [t for ts in CFN_TYPES.values() for t in ts]
FUNCTION_WEIGHTS = {"provider": 40, "consumer": 35, "reconciler": 15, "probe": 10}
CONTINUATION_KEY = "AutowireContinuation"
FIXED_NOW_MS = 1_700_000_000_000  # a forged continuation's start: fixed, so events repeat
SERVICE_TIMEOUT = "20"  # a chain that would wait gives up within this
DRAIN_S = 60
MAX_REASON_CHARS = 255
RESPONSE_LIMIT = 4096
# The answer echoes these; CloudFormation's own never come near this size, and when a request's
# do, no answer can fit in RESPONSE_LIMIT (CloudFormation matches them exactly).
ECHOED = ("StackId", "RequestId", "LogicalResourceId", "PhysicalResourceId")
ECHO_LIMIT = 1024

# Placeholders, filled in when the test bed is up.
CAPTURE = "{{CAPTURE}}"  # the capture server's base URL
CLOSED = "{{CLOSED}}"  # a loopback port nothing listens on
CLOSED_PORT = "{{CLOSED_PORT}}"
CAPTURE_PORT = "{{CAPTURE_PORT}}"
SERVICE_ID = "{{SERVICE_ID}}"  # an endpoint service in the fuzz account


def arn_of(function: str) -> str:
    return "{{ARN:" + function + "}}"


# ---------------------------------------------------------------- values


ODD_STRINGS = [
    "", " ", "\u0000", "\t\n\r", "\u202e" + "gnp.exe", "a\u200db\u200bc", "\ufeffBOM",
    "e\u0301\u0301\u0301", "\U0001f4a9\U0001f680", "\u2028\u2029", "Ω≈ç√∫",
    "日本語のテキスト", "مرحبا", "🏳️‍🌈", "\\", "\"quoted\"", "'; DROP TABLE x; --", "%s%n%x",
    "${jndi:x}",
    "../../../answer", "null", "true", "-1", "1e309", "0x10", "NaN", "link-", "vpce-svc-",
    "arn:", "arn:aws:ssm:us-east-1:777777777777:parameter/", "*", "*.", ".", "..", "a" * 64,
    "\U0010ffff", "Z" * 21,
]


class Gen:
    """Seeded values: the event generator's vocabulary."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, n: int) -> str:
        return "".join(self.choice("0123456789abcdef") for _ in range(n))

    def word(self, n: int = 8) -> str:
        return "".join(self.choice("abcdefghijklmnopqrstuvwxyz0123456789-") for _ in range(n))

    def huge(self) -> str:
        """Up to 100 KB of UTF-8 (an asynchronous invoke carries at most 256 KB)."""
        size = self.choice([1_000, 10_000, 50_000, 100_000])
        unit = self.choice(["x", "é", "\U0001f600", "ab"])
        return unit * (size // len(unit.encode()))

    def odd(self) -> str:
        return self.choice(ODD_STRINGS) if self.chance(0.9) else self.huge()

    def deep(self) -> Any:
        """Nested lists and objects; now and then deeper than serde_json's 128 levels."""
        deeper = self.chance(0.1)
        depth = self.choice([130, 300] if deeper else [4, 8, 16, 32, 64, 100])
        v: Any = self.word()
        for _ in range(depth):
            v = [v] if self.chance(0.5) else {"k": v}
        return v

    def scalar(self) -> Any:
        return self.choice([0, -1, 1, 2**63, -(2**63), 2**64 + 1, 1.5, -0.0, 1e300, True,
                            False, None, "", self.word(), self.odd()])

    def value(self, depth: int = 0) -> Any:
        """Any JSON value, shallow."""
        kind = self.rng.randrange(6 if depth < 3 else 3)
        if kind < 3:
            return self.scalar()
        if kind == 3:
            return [self.value(depth + 1) for _ in range(self.rng.randrange(4))]
        if kind == 4:
            return {self.choice([self.word(), self.odd()]): self.value(depth + 1)
                    for _ in range(self.rng.randrange(4))}
        return self.deep() if self.chance(0.2) else self.odd()

    def wrong(self, like: Any) -> Any:
        """A value of another JSON type than `like`."""
        while True:
            v = self.value()
            if type(v) is not type(like):
                return v


# ---------------------------------------------------------------- CloudFormation events


def props_for(g: Gen, rtype: str) -> dict:
    """Properties of `rtype`, plausible or not."""
    if rtype == "Custom::ServicePublication":
        p = {"ServiceId": g.choice([SERVICE_ID, SERVICE_ID, "vpce-svc-" + g.hex(17),
                                    "vpce-svc-", "svc-" + g.hex(8)]),
             "ServiceKey": g.choice(["orders-" + g.word(6), g.word(12), "Bad Key", "a" * 70]),
             "TlsNames": g.choice([[f"*.{g.word(6)}.example.com"], [],
                                   "a.example.com,b.example.com", ["bad name!"]]),
             "AllowedAccounts": g.choice([[], ["222222222222"], ["12345"], "222222222222"])}
        if g.chance(0.3):
            p["RejectUnlisted"] = g.choice(["true", "false", "perhaps", True])
        if g.chance(0.2):
            p["Ports"] = g.choice([["TLS:443"], ["443"], ["UDP:53", "TCP:80"], ["x:y"]])
        if g.chance(0.1):  # no valid zone is ever given: verification would wait 10 s a look
            p.update(PrivateDnsName=f"orders.{g.word(6)}.example.com",
                     PublicHostedZoneId="Z" + g.hex(20).upper())
        return p
    if rtype == "Custom::ServiceCertificate":
        return {"DomainName": g.choice([f"orders.{g.word(6)}.example.com", "*.example.com",
                                        "", "not a name", "x" * 300]),
                "HostedZoneId": g.choice(["Z" + g.hex(20).upper(), "/hostedzone/Z123", "zone"]),
                "ListenerArns": g.choice([
                    [f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/net/x/"
                     f"{g.hex(16)}/{g.hex(16)}"], [], ["arn:aws:s3:::bucket"]])}
    return {"ServiceParameter": g.choice([
                f"arn:aws:ssm:{REGION}:111111111111:parameter/privatelink-autowire/services/"
                f"{g.word(6)}", f"/privatelink-autowire/services/{g.word(6)}", "", "arn:aws:ssm"]),
            "VpcId": g.choice(["vpc-" + g.hex(17), "vpc-", "subnet-1"]),
            "SubnetIds": g.choice([["subnet-" + g.hex(17), "subnet-" + g.hex(17)], [],
                                   "subnet-1,subnet-2"]),
            "AliasName": g.choice([f"api.{g.word(6)}.example.com", None, "*.x.example.com"]),
            "PrivateDns": g.choice(["auto", "enabled", "disabled", "sometimes", None])}


def physical_for(g: Gen, rtype: str) -> Any:
    return g.choice([
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/privatelink-autowire/services/{g.word(6)}",
        f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{g.uuid()}",
        "link-" + g.hex(20), "autowire-create-failed:" + g.uuid(),
        f"arn:aws:ssm:{REGION}:111111111111:parameter/elsewhere", "", g.odd(),
        {"Custom::ServicePublication": "arn:aws:ssm:x",
         "Custom::ServiceCertificate": "arn:aws:acm:x", "Custom::ServiceEndpoint": "link-x"}[rtype],
    ])


def usable_url(g: Gen, path: str) -> str:
    query = (f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-Signature={g.hex(64)}"
             if g.chance(0.7) else "")
    return f"{CAPTURE}{path}{query}"


def refused_url(g: Gen, path: str) -> Any:
    """A ResponseURL the function must refuse: nothing may be sent to it (some even point at
    the capture server in a form the guard refuses, so a PUT would show)."""
    return g.choice([
        f"https://127.0.0.1:{CAPTURE_PORT}{path}", f"http://localhost:{CAPTURE_PORT}{path}",
        f"HTTP://127.0.0.1:{CAPTURE_PORT}{path}", f" {CAPTURE}{path}",
        f"http://[::1]:{CAPTURE_PORT}{path}",
        f"https://collector.example.net{path}?X-Amz-Signature={g.hex(64)}",
        f"https://s3.amazonaws.com.example.net{path}",
        f"https://user@bucket.s3.amazonaws.com{path}",
        f"https://bucket.s3.amazonaws.com:8443{path}", f"ftp://bucket.s3.amazonaws.com{path}",
        "file:///answer", "javascript:alert(1)", path, "", g.odd(), g.wrong(""),
        [f"{CAPTURE}{path}"], {"url": f"{CAPTURE}{path}"},
    ])


@dataclass
class Case:
    index: int
    function: str
    event: Any = None
    mutations: list[str] = field(default_factory=list)
    path: Optional[str] = None  # where the capture server expects this event's answer
    capture_faults: int = 0  # the capture server fails this many PUTs first
    fault_mode: str = "status"


def cfn_event(g: Gen, case: Case) -> dict:
    rtype = g.choice(CFN_TYPES[case.function])
    kind = g.choice(["Create", "Create", "Update", "Delete", "Delete"])
    token = arn_of(case.function)
    rid = g.uuid()
    e = {"RequestType": kind, "ServiceToken": token, "ResponseURL": usable_url(g, case.path),
         "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/fuzz-{case.index}/{g.uuid()}",
         "RequestId": rid, "ResourceType": rtype, "LogicalResourceId": g.choice(["Res", "Link"]),
         "ResourceProperties": {"ServiceToken": token, "ServiceTimeout": SERVICE_TIMEOUT,
                                **props_for(g, rtype)}}
    e["ResourceProperties"] = {k: v for k, v in e["ResourceProperties"].items() if v is not None}
    if kind != "Create":
        e["PhysicalResourceId"] = physical_for(g, rtype)
    if kind == "Update":
        e["OldResourceProperties"] = {"ServiceToken": token, **props_for(g, rtype)}
    return e


# Mutations and their weights. An unreachable ResponseURL costs the function's whole retry budget
# (five PUTs, 3 s of backoff): a few of those say what they have to say.
MUTATIONS = {
    "drop": 10, "wrong-type": 10, "unknown-field": 10, "huge": 6, "odd-unicode": 10,
    "request-type": 10, "resource-type": 10, "props-shape": 6, "prop-wrong-type": 10,
    "prop-drop": 10, "prop-unknown": 10, "prop-huge": 6, "prop-odd": 10, "prop-deep": 6,
    "physical-id": 10, "old-props": 6, "service-token": 6, "bad-url": 16, "no-url": 6,
    "unreachable-url": 0.5,
}
TOP_FIELDS = ["RequestType", "ServiceToken", "ResponseURL", "StackId", "RequestId", "ResourceType",
              "LogicalResourceId", "ResourceProperties", "PhysicalResourceId",
              "OldResourceProperties"]


def mutate(g: Gen, case: Case, e: dict) -> None:
    """One mutation of the CloudFormation event `e`, named in case.mutations."""
    props = e.get("ResourceProperties")
    has_props = isinstance(props, dict)
    what = g.rng.choices(list(MUTATIONS), list(MUTATIONS.values()))[0]
    key = g.choice(TOP_FIELDS)
    if what == "drop":
        what += ":" + key
        e.pop(key, None)
    elif what == "wrong-type":
        what += ":" + key
        e[key] = g.wrong(e.get(key, ""))
    elif what == "unknown-field":
        e[g.choice(["Extra", "responseurl", "RequestID", g.word(), g.odd()])] = g.value()
    elif what in ("huge", "odd-unicode"):
        what += ":" + key
        e[key] = g.huge() if what.startswith("huge") else g.odd()
    elif what == "request-type":
        e["RequestType"] = g.choice(["Upsert", "create", "DELETE", "", " Create", "Create ",
                                     "Update\u0000", "Read", "Import", g.odd()])
    elif what == "resource-type":
        e["ResourceType"] = g.choice(ALL_TYPES + [
            "Custom::Nope", "AWS::CloudFormation::CustomResource", "", "custom::serviceendpoint",
            g.odd()])
    elif what == "props-shape":
        e["ResourceProperties"] = g.choice([None, [], "props", 42, [props], {"": props}])
    elif what.startswith("prop-") and has_props:
        pkey = g.choice(sorted(props)) if props else "X"
        what += ":" + pkey
        if what.startswith("prop-wrong-type"):
            props[pkey] = g.wrong(props.get(pkey, ""))
        elif what.startswith("prop-drop"):
            props.pop(pkey, None)
        elif what.startswith("prop-unknown"):
            props[g.choice(["Colour", "serviceid", g.word(), g.odd()])] = g.value()
        elif what.startswith("prop-huge"):
            props[pkey] = g.huge()
        elif what.startswith("prop-odd"):
            props[pkey] = g.odd()
        else:
            props[pkey] = g.deep()
    elif what == "physical-id":
        e["PhysicalResourceId"] = g.choice([g.odd(), g.huge(), g.wrong(""),
                                            physical_for(g, g.choice(ALL_TYPES))])
    elif what == "old-props":
        e["OldResourceProperties"] = g.choice([None, "old", [], g.value(), {"ServiceToken": 1}])
    elif what == "service-token":
        e["ServiceToken"] = g.choice([
            "", "arn:aws:lambda:us-east-1:111111111111:function:someone-else", g.odd(), 7])
        if has_props and g.chance(0.5):
            props["ServiceToken"] = e["ServiceToken"]
    elif what == "bad-url":
        e["ResponseURL"] = refused_url(g, case.path)
    elif what == "no-url":
        e.pop("ResponseURL", None)
    elif what == "unreachable-url":
        e["ResponseURL"] = f"{CLOSED}{case.path}"
    case.mutations.append(what)


def continuation(g: Gen, case: Case, request: Any) -> dict:
    """A forged continuation (the payload the functions hand a wait over with): well formed or
    not, its rest-of-wait at most 2 s ahead."""
    c = {"request": request, "progress": g.choice([None, {}, g.value(), {"certificate_arn": 5}]),
         "started_at_ms": g.choice([0, FIXED_NOW_MS, 2**64 - 1, -1, "now", None]),
         "round": g.choice([0, 1, 2**32, -1, "1"]), "not_before_ms": g.choice([0, 0, 1, None])}
    for k in list(c):
        if g.chance(0.15):
            c.pop(k)
    case.mutations.append("continuation")
    return {CONTINUATION_KEY: c if g.chance(0.9) else g.value()}


def eventbridge(g: Gen, source: str, detail_type: str, detail: Any) -> dict:
    return {"version": "0", "id": g.uuid(), "source": source, "detail-type": detail_type,
            "account": g.choice([ACCOUNT, ACCOUNT, "1", None]),
            "region": g.choice([REGION, REGION, "", None]),
            "time": g.choice(["2026-01-01T00:00:00Z", "yesterday", 5]), "resources": [],
            "detail": detail}


def sns_records(g: Gen) -> dict:
    message = {"Type": "Notification", "MessageId": g.uuid(), "Message": g.odd(),
               "TopicArn": g.choice([f"arn:aws:sns:{REGION}:{ACCOUNT}:vpce", 3]),
               "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "1",
               "Signature": "x", "SigningCertUrl": "x", "UnsubscribeUrl": "x",
               "MessageAttributes": {}}
    record = {"EventSource": g.choice(["aws:sns", "aws:sqs"]), "EventVersion": "1.0",
              "EventSubscriptionArn": "arn:aws:sns:x", "Sns": g.choice([message, g.value()])}
    return {"Records": g.choice([[], [record], g.value()])}


def reconciler_event(g: Gen) -> Any:
    """EventBridge and SNS events the reconciler acts on, bent, and garbage."""
    change = {"operation": g.choice(["Create", "Update", "Delete", "LabelParameterVersion", 7]),
              "name": g.choice([f"/privatelink-autowire/services/{g.word(6)}", g.odd()]),
              "type": "String"}
    return g.choice([
        eventbridge(g, "aws.ssm", "Parameter Store Change", g.choice([change, None, g.value()])),
        eventbridge(g, "aws.events", "Scheduled Event", {}),
        sns_records(g),
        {"source": g.odd(), "detail-type": g.odd(), "detail": g.value()},
        g.value(),
    ])


def probe_target(g: Gen) -> dict:
    """A target on loopback, or a name only the event's own `hosts` may resolve: the function
    runs with AUTOWIRE_PROBE_SYSTEM_DNS=false."""
    target = {"host": g.choice(["127.0.0.1", "::1", "localhost", "orders.internal", "", g.odd()]),
              "port": g.choice([CLOSED_PORT, 0, 65535, 70000, -1, "443"])}
    if g.chance(0.3):
        target["tls"] = g.choice([{}, {"server_name": g.odd()}, None, 1])
    if g.chance(0.2):
        target["http"] = g.choice([{"path": g.odd()}, {"expect_status": 99999}, {}])
    return target


def probe_event(g: Gen) -> Any:
    """Probe input, mostly malformed, never reaching beyond loopback."""
    run = {"targets": [probe_target(g) for _ in range(g.rng.randrange(5))],
           "timeout_ms": g.choice([1, 500, 0, 900_001, -5, "1000"])}
    if g.chance(0.3):
        run["concurrency"] = g.choice([0, 1, 4097, "x"])
    if g.chance(0.4):
        run["hosts"] = {"orders.internal": g.choice(["127.0.0.1", ["127.0.0.1", "::1"],
                                                     "not-an-ip", 5])}
    if g.chance(0.2):
        run[g.word()] = g.value()
    return g.choice([run, {"targets": g.value()}, g.value()])


def generate(seed: int, count: int) -> list[Case]:
    g = Gen(random.Random(seed))
    names = list(FUNCTION_WEIGHTS)
    weights = list(FUNCTION_WEIGHTS.values())
    cases = []
    for i in range(count):
        case = Case(i, g.rng.choices(names, weights)[0])
        if case.function == "reconciler":
            case.event = reconciler_event(g)
        elif case.function == "probe":
            case.event = probe_event(g)
        else:
            case.path = f"/fuzz/{seed}/{i}"
            e = cfn_event(g, case)
            for _ in range(g.choice([0, 1, 1, 2, 3])):
                mutate(g, case, e)
            case.event = continuation(g, case, e) if g.chance(0.04) else e
            if g.chance(0.03):
                case.event = g.choice([None, [], "event", 3, [e], reconciler_event(g),
                                       probe_event(g)])
                case.mutations.append("not-a-request")
            if g.chance(0.05):
                case.capture_faults = g.choice([1, 2])
                case.fault_mode = g.choice(["status", "reset"])
        cases.append(case)
    return cases


def depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max(map(depth, v.values()), default=0)
    if isinstance(v, list):
        return 1 + max(map(depth, v), default=0)
    return 0


def digest(cases: list[Case]) -> str:
    h = hashlib.sha256()
    for c in cases:
        h.update(json.dumps([c.function, c.event], sort_keys=True).encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- what a case should get


def _u64(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64


def request_of(event: Any) -> Any:
    """What the runtime reads the envelope from (None: not even a continuation it can read)."""
    if not isinstance(event, dict) or CONTINUATION_KEY not in event:
        return event
    c = event[CONTINUATION_KEY]
    ok = (isinstance(c, dict) and "request" in c and "progress" in c
          and _u64(c.get("started_at_ms")) and _u64(c.get("round")) and c["round"] < 2**32
          and ("not_before_ms" not in c or c["not_before_ms"] is None
               or _u64(c["not_before_ms"])))
    # serde: `not_before_ms: null` is refused for a u64 with #[serde(default)]
    if ok and "not_before_ms" in c and c["not_before_ms"] is None:
        ok = False
    return c["request"] if ok else None


def answer_url(event: Any) -> Optional[str]:
    """The ResponseURL the function will answer `event` at (placeholders filled), None if it
    must answer nowhere."""
    raw = request_of(event)
    url = raw.get("ResponseURL") if isinstance(raw, dict) else None
    return url if isinstance(url, str) and url.startswith(PREFIX) else None


# ---------------------------------------------------------------- the loopback sink


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _any(self):
        body = read_request_body(self) if self.command != "CONNECT" else b""
        self.server.sink.record(self.command, self.path, len(body))  # type: ignore[attr-defined]
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True

    do_GET = do_PUT = do_POST = do_CONNECT = do_DELETE = do_HEAD = _any


class Sink(LoopbackHttpServer):
    """Every function's HTTP(S) proxy: counts whatever is sent to a host other than loopback."""

    handler = _SinkHandler
    thread_name = "fuzz-sink"

    def __init__(self):
        super().__init__(LOOPBACK, 0)
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, int]] = []

    def _attach(self, httpd) -> None:
        httpd.sink = self  # type: ignore[attr-defined]

    def record(self, method: str, path: str, size: int) -> None:
        with self.lock:
            self.requests.append((method, path, size))


def closed_port() -> tuple[socket.socket, int]:
    """A loopback port that refuses connections (bound, never listening) while held."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    return s, s.getsockname()[1]


# ---------------------------------------------------------------- running


@dataclass
class Outcome:
    events: int = 0
    by_function: dict = field(default_factory=dict)
    answerable: int = 0  # events with a ResponseURL the function may use
    answered: int = 0  # of those, answered exactly once
    statuses: dict = field(default_factory=dict)  # SUCCESS/FAILED
    unanswerable: int = 0
    answered_elsewhere: int = 0  # answers where there should be none, sink requests included
    single: int = 0  # events with exactly one answer and no problem (see `line`)
    panics: int = 0
    hangs: int = 0
    crashes: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        fns = ", ".join(f"{k} {v}" for k, v in self.by_function.items())
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())) or "none"
        return (f"{self.single} of {self.events} events answered exactly once (a CloudFormation "
                f"answer where the ResponseURL is usable, else the invocation's own result and "
                f"nothing sent); {self.events} events ({fns}); "
                f"{self.answerable} with a usable ResponseURL: "
                f"{self.answered} answered once ({statuses}); {self.unanswerable} without: "
                f"{self.answered_elsewhere} answered anywhere; {self.panics} panics, "
                f"{self.hangs} hangs, {self.crashes} crashes; {self.seconds:.1f} s")

    @property
    def ok(self) -> bool:
        return not self.problems


def fill(value: Any, subs: dict[str, str]) -> Any:
    text = json.dumps(value)
    for k, v in subs.items():
        text = text.replace(k, v)
    return json.loads(text)


def check_body(body: Any, size: int, raw: dict) -> list[str]:
    """What is wrong with an answer (`size` bytes) to the request `raw`."""
    if not isinstance(body, dict):
        return [f"answer is not a JSON object: {str(body)[:200]}"]
    out = []
    if body.get("Status") not in ("SUCCESS", "FAILED"):
        out.append(f"Status {body.get('Status')!r}")
    for key in ("RequestId", "StackId", "LogicalResourceId"):
        want = raw.get(key) if isinstance(raw.get(key), str) else ""
        if body.get(key) != want:
            out.append(f"{key} {str(body.get(key))[:80]!r} is not the request's")
    if not isinstance(body.get("PhysicalResourceId"), str):
        out.append("PhysicalResourceId missing")
    if body.get("Status") == "FAILED":
        reason = body.get("Reason")
        if not isinstance(reason, str) or not reason or len(reason) > MAX_REASON_CHARS \
                or "\n" in reason:
            out.append(f"Reason not one line of 1-{MAX_REASON_CHARS} characters: {reason!r:.300}")
    echoed = {k: len(str(body.get(k, "")).encode()) for k in ECHOED}
    if size > RESPONSE_LIMIT and max(echoed.values()) <= ECHO_LIMIT:
        out.append(f"answer of {size} bytes, over {RESPONSE_LIMIT} (bytes echoed: {echoed})")
    return out


class Fuzzer:
    def __init__(self, emulator_url: str, timeout_s: float = 10.0, echo: bool = False):
        self.emulator_url = emulator_url
        self.timeout_s = timeout_s
        self.echo = echo

    def run(self, cases: list[Case]) -> Outcome:
        session = assume_account(self.emulator_url, ACCOUNT)
        service = build_provider_network(session, ["use1-az1"], listeners=[("TLS", 443)])
        closed_sock, port = closed_port()
        with CaptureServer() as capture, Sink() as sink, \
                FaultProxy(self.emulator_url) as proxy:
            proxy_env = {"HTTP_PROXY": sink.url, "HTTPS_PROXY": sink.url, "ALL_PROXY": sink.url,
                         "NO_PROXY": "127.0.0.1,localhost", "AUTOWIRE_PROBE_SYSTEM_DNS": "false"}
            fns = {}
            try:
                for name in FUNCTION_WEIGHTS:
                    fns[name] = harness(name, session, proxy, self.timeout_s, proxy_env).start()
                subs = {CAPTURE: capture.url, CLOSED: f"http://{LOOPBACK}:{port}",
                        '"' + CLOSED_PORT + '"': str(port), CLOSED_PORT: str(port),
                        CAPTURE_PORT: str(capture.port), SERVICE_ID: service.service_id}
                subs.update({arn_of(n): h.function_arn for n, h in fns.items()})
                return self._run(cases, fns, capture, sink, subs)
            finally:
                for h in fns.values():
                    h.stop()
                closed_sock.close()

    def _run(self, cases, fns, capture, sink, subs) -> Outcome:
        out = Outcome()
        self._sink_self_check(out, fns["provider"], sink, subs)
        started = time.monotonic()
        expected_paths = set()
        for case in cases:
            out.events += 1
            problems_before = len(out.problems)
            out.by_function[case.function] = out.by_function.get(case.function, 0) + 1
            event = fill(case.event, subs)
            url = answer_url(event)
            usable = url is not None and url.startswith(capture.url + case.path)
            if case.function in CFN_TYPES:
                if usable:
                    out.answerable += 1
                    expected_paths.add(case.path)
                    if case.capture_faults:
                        capture.fail(case.path, fail_first=case.capture_faults,
                                     mode=case.fault_mode)
                else:
                    out.unanswerable += 1
            sink_before = len(sink.requests)
            self._invoke(out, case, fns[case.function], event)
            if len(sink.requests) > sink_before:
                out.answered_elsewhere += len(sink.requests) - sink_before
                out.problems.append(f"event {case.index} {case.mutations}: sent to another host:"
                                    f" {sink.requests[sink_before:]}")
            if case.function in CFN_TYPES:
                self._check_answer(out, case, event, capture, usable)
            out.single += len(out.problems) == problems_before
            if self.echo and case.index % 100 == 99:
                print(f"  {case.index + 1} events, {time.monotonic() - started:.1f} s", flush=True)
        elsewhere = [r for r in capture.attempts() if r["path"] not in expected_paths]
        if elsewhere:
            out.answered_elsewhere += len(elsewhere)
            out.problems.append(f"answers at paths no usable ResponseURL named: "
                                f"{[(r['path'], r['body_text'][:100]) for r in elsewhere[:5]]}")
        out.seconds = time.monotonic() - started
        return out

    def _sink_self_check(self, out: Outcome, fn, sink, subs) -> None:
        """An S3 ResponseURL (the guard lets it through) must reach the sink, through the HTTP
        proxy: else "nothing sent to another host" would prove nothing. The proxy resolves the
        host, so nothing is looked up, let alone sent, outside loopback."""
        url = "https://fuzz-self-check.s3.amazonaws.com/answer?X-Amz-Signature=0"
        event = fill({"RequestType": "Delete", "ResponseURL": url, "StackId": "s", "RequestId": "r",
                      "ResourceType": "Custom::ServicePublication", "LogicalResourceId": "L",
                      "PhysicalResourceId": "p", "ServiceToken": arn_of("provider"),
                      "ResourceProperties": {}}, subs)
        fn.invoke_detailed(event)
        with sink.lock:
            seen = list(sink.requests)
            sink.requests.clear()
        if not any("fuzz-self-check.s3.amazonaws.com" in path for _, path, _ in seen):
            out.problems.append(f"the sink did not see the S3 answer (saw {seen}): a ResponseURL's "
                                "host could be reached without it")

    def _invoke(self, out: Outcome, case: Case, fn, event: Any) -> None:
        label = f"event {case.index} ({case.function}, {case.mutations})"
        try:
            invocations = [fn.invoke_detailed(event, http_timeout_s=self.timeout_s + 30)]
            if fn.relay is not None:
                invocations += fn.drain_async(DRAIN_S)
        except (HarnessError, TimeoutError) as e:
            out.hangs += 1
            out.problems.append(f"{label}: no end: {e}")
            return
        for inv in invocations:
            if inv.timed_out or inv.duration_s > self.timeout_s:
                out.hangs += 1
                out.problems.append(f"{label}: ran {inv.duration_s:.1f} s (timeout "
                                    f"{self.timeout_s} s)")
            if inv.error and inv.error.get("errorType") == "Runtime.ExitError":
                out.crashes += 1
                out.problems.append(f"{label}: process died: {inv.error}")
            panicked = [l.line for l in inv.logs if "panicked" in l.line]
            if panicked:  # the panic's own line says where; the runtime's log line does not
                out.panics += 1
                where = [p for p in panicked if "panicked at" in p] or panicked
                out.problems.append(f"{label}: panicked: {where[0][:300]}")

    def _check_answer(self, out: Outcome, case: Case, event: Any, capture, usable: bool) -> None:
        label = f"event {case.index} ({case.function}, {case.mutations})"
        if not usable:
            if capture.attempts(case.path):
                out.answered_elsewhere += len(capture.attempts(case.path))
                out.problems.append(f"{label}: answered although its ResponseURL is not usable")
            return
        accepted = capture.responses(case.path)
        attempts = capture.attempts(case.path)
        if len(accepted) != 1 or len(attempts) != 1 + case.capture_faults:
            out.problems.append(f"{label}: {len(accepted)} answers ({len(attempts)} PUTs, "
                                f"{case.capture_faults} failed on purpose), want 1; event "
                                f"{len(json.dumps(event))} bytes, {depth(event)} levels deep")
            if not accepted:
                return
        else:
            out.answered += 1
        body = accepted[-1]["body"]
        size = len(accepted[-1]["body_text"].encode())
        status = body.get("Status") if isinstance(body, dict) else None
        out.statuses[str(status)] = out.statuses.get(str(status), 0) + 1
        for p in check_body(body, size, request_of(event)):
            out.problems.append(f"{label}: {p}")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout-s", type=float, default=10.0, help="each function's Timeout")
    ap.add_argument("--show", type=int, default=20, help="problems to print at most")
    args = ap.parse_args(argv)
    url = os.environ.get("AUTOWIRE_EMULATOR_URL")
    if not url:
        ap.error("AUTOWIRE_EMULATOR_URL is not set (run through tests/emulator/with_emulator.py)")
    cases = generate(args.seed, args.events)
    print(f"fuzz: {len(cases)} events, seed {args.seed}, events digest {digest(cases)}",
          flush=True)
    out = Fuzzer(url, args.timeout_s, echo=True).run(cases)
    print(f"fuzz: {out.line()}")
    for p in out.problems[:args.show]:
        print(f"  {p[:600]}")
    if len(out.problems) > args.show:
        print(f"  ... {len(out.problems) - args.show} more")
    return 0 if out.ok else 1


if __name__ == "__main__":
    sys.exit(main())
