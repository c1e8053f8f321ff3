"""Fault-injecting, call-recording HTTP reverse proxy in front of the AWS
emulator (a moto server on loopback).

Point an AWS SDK at the proxy (``AWS_ENDPOINT_URL=http://127.0.0.1:<port>``);
every request is forwarded byte for byte to the upstream emulator (method,
path and query, headers including ``Host`` and the SigV4 ``Authorization``,
body), and the upstream answer is relayed back.  Along the way the proxy

* records each call's service and action, in arrival order:

  - service: the signing name from the SigV4 credential scope
    (``ec2``, ``elasticloadbalancing``, ``ssm``, ``lambda``, ``route53``,
    ``sts``...), else the ``X-Amz-Target`` prefix;
  - action: query protocols (EC2, ELBv2, STS...) the ``Action`` form/query
    field; JSON protocol (SSM, ACM...) the operation part of
    ``X-Amz-Target``; REST protocols (Lambda, Route 53) the operation name
    when the method+path is a known one (e.g. ``Invoke``,
    ``ChangeResourceRecordSets``), else ``"<METHOD> <path>"``; REST calls
    also carry ``"rest": "<METHOD> <path>"``;

* injects throttling on request, answering in the wire format the real
  service uses when it throttles:

  ===================  ======  ============================================
  protocol             status  error
  ===================  ======  ============================================
  EC2 query            503     ``RequestLimitExceeded``, EC2 envelope
                               ``<Response><Errors><Error><Code>...``
  AWS query (ELBv2,    400     ``Throttling``, ``<ErrorResponse><Error>``
  STS, ...)                    ``<Type>Sender</Type><Code>...``
  REST-XML (Route 53)  400     ``Throttling``, ``<ErrorResponse>`` likewise
  JSON (SSM, ACM ...)  400     ``ThrottlingException``: ``x-amzn-ErrorType``
                               header + ``{"__type":..., "message":...}``
  REST-JSON (Lambda)   429     ``TooManyRequestsException``:
                               ``x-amzn-ErrorType`` + ``{"Type":"User",
                               "message":...}``
  ===================  ======  ============================================

Control endpoints (served by the proxy itself, never forwarded)
---------------------------------------------------------------
``GET /_autowire/calls[?service=ec2][&action=X]``
    JSON list of ``{seq, service, action, protocol, method, path,
    account_access_key_id, region, status, throttled, error_code, time,
    duration_ms}`` in arrival order.
``DELETE /_autowire/calls``  reset the list.
``POST /_autowire/faults``   add a throttling rule (or a JSON list of rules)::

    {"actions": ["CreateVpcEndpoint"], "rate": 0.5, "seed": 1}
    {"actions": ["CreateVpcEndpoint"], "first": 2}

  ``actions`` entries match the recorded action, ``"<service>:<action>"``,
  the REST ``"<METHOD> <path>"``, or ``"*"``.  ``first: N`` throttles the
  first N matching calls, counted across all the rule's actions (then
  ``rate`` applies, if given, else none; one rule per action for per-action
  budgets);
  ``rate`` alone throttles each matching call with that probability, drawn
  from ``random.Random(seed)`` (deterministic for a given call order); with
  neither, every matching call is throttled.  Optional: ``services`` (list),
  ``access_key_ids`` (list), ``code``/``status``/``message`` overrides.
  Rules are checked in order; answer: the stored rule(s) with their ids.
``GET /_autowire/faults``    the rules with their counters
  (``matched``, ``injected``).
``DELETE /_autowire/faults`` remove all rules.
``GET /_autowire/proxy``     ``{"upstream": ..., "calls": n, "faults": n}``.

Crash hook (library only: ``kill_after``)
-----------------------------------------
``proxy.kill_after(n, pid)`` arms a one-shot crash: once the ``n``-th *mutating* call
(:func:`is_mutating`: not ``Describe*``/``Get*``/``List*``, and not an unnamed REST ``GET``)
after arming has been forwarded and the upstream has answered, the proxy sends ``SIGKILL`` to
``pid`` (an int, or a callable giving the PID at that moment: a process the caller started),
waits until it is gone, and closes the connection without relaying the answer.  The call has
taken effect upstream; the process never saw its answer: a crash right after the call.  The
call is recorded with ``"killed_pid"``; ``proxy.kill_state()`` tells what happened.
``proxy.arm(crash)`` shares one :class:`Crash` with another counter (the harness's async invoke
relay counts the function's Event invokes), so ``n`` counts across both.

Any other path, ``/_autowire/...`` of the emulator included, is forwarded.

Standalone::

    python fault_proxy.py --listen-port 5056 --upstream http://127.0.0.1:5055

Library::

    with FaultProxy("http://127.0.0.1:5055") as proxy:
        proxy.add_fault(["CreateVpcEndpoint"], first=1)
        ... (SDK with endpoint proxy.url) ...
        assert [c["action"] for c in proxy.calls()] == [...]
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Callable, Iterable, Optional, Union
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testbed_util import LOOPBACK, LoopbackHttpServer, read_request_body  # noqa: E402

CONTROL_PREFIX = "/_autowire/"
CONTROL_CALLS = "/_autowire/calls"
CONTROL_FAULTS = "/_autowire/faults"
CONTROL_INFO = "/_autowire/proxy"

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
}

_CRED_RE = re.compile(
    r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request"
)

# Query-protocol XML namespaces (cosmetic: SDKs do not check them).
_QUERY_NS = {
    "elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
}
_REST_XML_SERVICES = {"route53", "s3", "cloudfront"}
_ROUTE53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"

# Known REST operations: (service, method, path regex) -> operation name.
_REST_OPS: list[tuple[str, str, re.Pattern, str]] = []


def _op(service: str, method: str, pattern: str, name: str) -> None:
    _REST_OPS.append((service, method, re.compile("^" + pattern + "/?$"), name))


_L = "/2015-03-31/functions"
_op("lambda", "POST", _L + r"/[^/]+/invocations", "Invoke")
_op("lambda", "POST", r"/2014-11-13/functions/[^/]+/invoke-async", "InvokeAsync")
_op("lambda", "GET", _L + r"/[^/]+/configuration", "GetFunctionConfiguration")
_op("lambda", "PUT", _L + r"/[^/]+/configuration", "UpdateFunctionConfiguration")
_op("lambda", "PUT", _L + r"/[^/]+/code", "UpdateFunctionCode")
_op("lambda", "POST", _L + r"/[^/]+/policy", "AddPermission")
_op("lambda", "GET", _L + r"/[^/]+/policy", "GetPolicy")
_op("lambda", "DELETE", _L + r"/[^/]+/policy/[^/]+", "RemovePermission")
_op("lambda", "GET", _L + r"/[^/]+", "GetFunction")
_op("lambda", "DELETE", _L + r"/[^/]+", "DeleteFunction")
_op("lambda", "GET", _L, "ListFunctions")
_op("lambda", "POST", _L, "CreateFunction")
_op("lambda", "GET", r"/2015-03-31/tags/[^/]+", "ListTags")
_op("lambda", "POST", r"/2015-03-31/tags/[^/]+", "TagResource")
_op("lambda", "DELETE", r"/2015-03-31/tags/[^/]+", "UntagResource")
_R = "/2013-04-01"
_op("route53", "POST", _R + r"/hostedzone/[^/]+/rrset", "ChangeResourceRecordSets")
_op("route53", "GET", _R + r"/hostedzone/[^/]+/rrset", "ListResourceRecordSets")
_op("route53", "POST", _R + r"/hostedzone/[^/]+/associatevpc", "AssociateVPCWithHostedZone")
_op("route53", "POST", _R + r"/hostedzone/[^/]+/disassociatevpc", "DisassociateVPCFromHostedZone")
_op("route53", "POST", _R + r"/hostedzone/[^/]+/authorizevpcassociation",
    "CreateVPCAssociationAuthorization")
_op("route53", "GET", _R + r"/hostedzone/[^/]+/authorizevpcassociation",
    "ListVPCAssociationAuthorizations")
_op("route53", "POST", _R + r"/hostedzone/[^/]+/deauthorizevpcassociation",
    "DeleteVPCAssociationAuthorization")
_op("route53", "GET", _R + r"/hostedzone/[^/]+", "GetHostedZone")
_op("route53", "DELETE", _R + r"/hostedzone/[^/]+", "DeleteHostedZone")
_op("route53", "POST", _R + r"/hostedzone/[^/]+", "UpdateHostedZoneComment")
_op("route53", "GET", _R + r"/hostedzone", "ListHostedZones")
_op("route53", "POST", _R + r"/hostedzone", "CreateHostedZone")
_op("route53", "GET", _R + r"/hostedzonesbyname", "ListHostedZonesByName")
_op("route53", "GET", _R + r"/hostedzonesbyvpc", "ListHostedZonesByVPC")
_op("route53", "GET", _R + r"/hostedzonecount", "GetHostedZoneCount")
_op("route53", "GET", _R + r"/change/[^/]+", "GetChange")
_op("route53", "GET", _R + r"/tags/[^/]+/[^/]+", "ListTagsForResource")
_op("route53", "POST", _R + r"/tags/[^/]+/[^/]+", "ChangeTagsForResource")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def classify(method: str, target: str, headers, body: bytes) -> dict:
    """Work out service, action, protocol and caller key of one AWS request.

    ``headers`` is any mapping with case-insensitive ``get`` (email.message
    or a dict with canonical names); ``target`` is the request-target
    (path plus query string).
    """
    split = urlsplit(target)
    path = split.path
    auth = headers.get("Authorization") or ""
    m = _CRED_RE.search(auth)
    qs = parse_qs(split.query, keep_blank_values=True)
    if not m and "X-Amz-Credential" in qs:  # pre-signed request
        m = _CRED_RE.search("Credential=" + qs["X-Amz-Credential"][0])
    access_key = m.group(1) if m else None
    region = m.group(3) if m else None
    service = m.group(4).lower() if m else None

    amz_target = headers.get("X-Amz-Target")
    ctype = (headers.get("Content-Type") or "").lower()
    action = None
    protocol = None
    rest = None

    if amz_target:
        prefix, _, op = amz_target.rpartition(".")
        action = op or amz_target
        protocol = "json"
        if service is None:
            service = prefix.split("_")[0].lower() or None
    else:
        form_action = None
        if body and "x-www-form-urlencoded" in ctype:
            try:
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
                form_action = (form.get("Action") or [None])[0]
            except UnicodeDecodeError:
                form_action = None
        if form_action is None and "Action" in qs:
            form_action = qs["Action"][0]
        if form_action:
            action = form_action
            protocol = "ec2" if service == "ec2" else "query"
        else:
            rest = f"{method} {path}"
            protocol = "rest-xml" if service in _REST_XML_SERVICES else "rest-json"
            for svc, meth, rx, name in _REST_OPS:
                if svc == service and meth == method and rx.match(unquote(path)):
                    action = name
                    break
            if action is None:
                action = rest
    out = {
        "service": service,
        "action": action,
        "protocol": protocol,
        "method": method,
        "path": path,
        "account_access_key_id": access_key,
        "region": region,
    }
    if rest is not None:
        out["rest"] = rest
    name = _json_name(body) if protocol == "json" else None
    if name is not None:
        out["name"] = name
    return out


def _json_name(body: bytes) -> str | None:
    """The `Name` a JSON-protocol request acts on (Parameter Store's parameter), if any."""
    try:
        name = json.loads(body or b"{}").get("Name")
    except (ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


READ_ONLY_PREFIXES = ("Describe", "Get", "List")


def is_mutating(call: dict) -> bool:
    """A call that may change something: not Describe*/Get*/List*, nor an unnamed REST GET/HEAD."""
    action = str(call.get("action"))
    if call.get("rest") == action:  # a REST call classify() could not name
        return call.get("method") not in ("GET", "HEAD")
    return not action.startswith(READ_ONLY_PREFIXES)


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """Wait until ``pid`` has exited (a zombie counts as exited); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[-1].split()[0] in (b"Z", b"X"):
                    return True
        except FileNotFoundError:
            return True
        except OSError:
            pass
        time.sleep(0.005)
    return False


class Crash:
    """A one-shot crash: SIGKILL ``pid`` (an int, or a callable giving the PID at that moment)
    at the ``after``-th event counted.  One Crash may be armed on several counters (the fault
    proxy counts mutating AWS calls, lambda_harness's relay counts Event invokes), so ``after``
    counts across all of them, in arrival order."""

    def __init__(self, after: int, pid: Union[int, Callable[[], Optional[int]]]):
        if after < 1:
            raise ValueError("'after' counts mutating calls from 1")
        self.after = after
        self.pid = pid
        self.seen = 0
        self.fired: Optional[dict] = None
        self._lock = threading.Lock()

    def count(self) -> bool:
        """Count one event; True exactly once, on the after-th (then ``fire``)."""
        with self._lock:
            if self.fired is not None or self.seen >= self.after:
                return False
            self.seen += 1
            return self.seen == self.after

    def fire(self, what: dict) -> Optional[int]:
        """SIGKILL the process and wait until it is gone; ``what`` says after which call."""
        pid = self.pid() if callable(self.pid) else self.pid
        fired = {**what, "pid": pid, "time": time.time()}
        with self._lock:
            self.fired = fired
        if pid is None:
            return None
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            fired["gone_already"] = True
            return None
        fired["dead"] = wait_gone(pid)
        return pid

    def as_dict(self) -> dict:
        with self._lock:
            return {"after": self.after, "seen": self.seen, "fired": self.fired}


def throttle_response(call: dict, rule: Optional[dict] = None) -> tuple[int, list[tuple[str, str]], bytes, str]:
    """(status, headers, body, error code) the real service sends when throttling."""
    rule = rule or {}
    req_id = str(uuid.uuid4())
    protocol = call.get("protocol")
    service = call.get("service") or ""
    if protocol == "ec2":
        code = rule.get("code") or "RequestLimitExceeded"
        msg = rule.get("message") or "Request limit exceeded."
        status = int(rule.get("status") or 503)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message>"
            f"</Error></Errors><RequestID>{req_id}</RequestID></Response>"
        ).encode()
        return status, [("Content-Type", "text/xml;charset=UTF-8")], body, code
    if protocol in ("query", "rest-xml"):
        code = rule.get("code") or "Throttling"
        msg = rule.get("message") or "Rate exceeded"
        status = int(rule.get("status") or 400)
        ns = _ROUTE53_NS if service == "route53" else _QUERY_NS.get(
            service, f"http://{service or 'aws'}.amazonaws.com/doc/")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{msg}</Message></Error><RequestId>{req_id}</RequestId></ErrorResponse>"
        ).encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", req_id)], body, code
    if protocol == "rest-json":
        # Lambda's throttling error (restJson1): 429 TooManyRequestsException.
        code = rule.get("code") or "TooManyRequestsException"
        msg = rule.get("message") or "Rate exceeded"
        status = int(rule.get("status") or 429)
        payload = {"Type": "User", "message": msg}
        if code == "TooManyRequestsException":
            payload["Reason"] = "CallerRateLimitExceeded"
        return status, [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", req_id),
        ], json.dumps(payload).encode(), code
    # awsJson1.0 / 1.1
    code = rule.get("code") or "ThrottlingException"
    msg = rule.get("message") or "Rate exceeded"
    status = int(rule.get("status") or 400)
    return status, [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("x-amzn-ErrorType", code),
        ("x-amzn-RequestId", req_id),
    ], json.dumps({"__type": code, "message": msg}).encode(), code


class _Rule:
    def __init__(self, spec: dict, rule_id: int):
        actions = spec.get("actions")
        if isinstance(actions, str):
            actions = [actions]
        if not actions or not all(isinstance(a, str) for a in actions):
            raise ValueError("'actions' must be a non-empty list of strings")
        self.id = rule_id
        self.actions = list(actions)
        self.services = [s.lower() for s in spec.get("services") or []]
        self.access_key_ids = list(spec.get("access_key_ids") or [])
        self.rate = None if spec.get("rate") is None else float(spec["rate"])
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("'rate' must be within [0, 1]")
        self.seed = spec.get("seed")
        self.first = None if spec.get("first") is None else int(spec["first"])
        self.code = spec.get("code")
        self.status = spec.get("status")
        self.message = spec.get("message")
        self.rng = random.Random(self.seed)
        self.matched = 0
        self.injected = 0

    def matches(self, call: dict) -> bool:
        if self.services and (call.get("service") or "") not in self.services:
            return False
        if self.access_key_ids and call.get("account_access_key_id") not in self.access_key_ids:
            return False
        names = {call.get("action"), f"{call.get('service')}:{call.get('action')}"}
        if call.get("rest"):
            names.add(call["rest"])
        return any(a == "*" or a in names for a in self.actions)

    def decide(self) -> bool:
        """Called for a matching call: throttle it?"""
        self.matched += 1
        if self.first is not None and self.matched <= self.first:
            hit = True
        elif self.rate is not None:
            hit = self.rng.random() < self.rate
        else:
            hit = self.first is None
        if hit:
            self.injected += 1
        return hit

    def as_dict(self) -> dict:
        d = {
            "id": self.id,
            "actions": self.actions,
            "rate": self.rate,
            "seed": self.seed,
            "first": self.first,
            "matched": self.matched,
            "injected": self.injected,
        }
        for k in ("services", "access_key_ids"):
            if getattr(self, k):
                d[k] = getattr(self, k)
        for k in ("code", "status", "message"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    def overrides(self) -> dict:
        return {"code": self.code, "status": self.status, "message": self.message}


class _State:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.calls: list[dict] = []
        self.rules: list[_Rule] = []
        self.seq = 0
        self.rule_seq = 0
        self.crash: Optional[Crash] = None

    def crash_due(self, call: dict) -> Optional[Crash]:
        """The armed crash, when this forwarded and answered call is the one it waits for."""
        with self.lock:
            crash = self.crash
        return crash if crash is not None and is_mutating(call) and crash.count() else None

    def add_call(self, call: dict) -> dict:
        with self.lock:
            self.seq += 1
            call["seq"] = self.seq
            self.calls.append(call)
            return call

    def pick_fault(self, call: dict) -> Optional[_Rule]:
        with self.lock:
            for rule in self.rules:
                if rule.matches(call) and rule.decide():
                    return rule
        return None

    def add_rules(self, specs: Iterable[dict]) -> list[dict]:
        with self.lock:
            made = []
            for spec in specs:
                self.rule_seq += 1
                made.append(_Rule(spec, self.rule_seq))
            self.rules.extend(made)
            return [r.as_dict() for r in made]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stalls
    server_version = "autowire-fault-proxy"
    sys_version = ""

    @property
    def state(self) -> _State:
        return self.server.proxy_state  # type: ignore[attr-defined]

    def log_message(self, fmt, *args):
        if getattr(self.server, "verbose", False):
            sys.stderr.write("fault_proxy: " + (fmt % args) + "\n")

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes,
              reason: Optional[str] = None) -> None:
        self.send_response(status, reason)
        for k, v in headers:
            if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj) -> None:
        self._send(status, [("Content-Type", "application/json")],
                   json.dumps(obj).encode() if obj is not None else b"")

    # control plane
    def _control(self, body: bytes) -> bool:
        split = urlsplit(self.path)
        path = split.path.rstrip("/")
        st = self.state
        if path == CONTROL_CALLS:
            if self.command == "GET":
                q = parse_qs(split.query)
                with st.lock:
                    calls = [dict(c) for c in st.calls]
                for key in ("service", "action"):
                    if key in q:
                        calls = [c for c in calls if c.get(key) == q[key][0]]
                self._send_json(200, calls)
            elif self.command == "DELETE":
                with st.lock:
                    st.calls.clear()
                self._send(204, [], b"")
            else:
                self._send_json(405, {"error": "use GET or DELETE"})
            return True
        if path == CONTROL_FAULTS:
            if self.command == "GET":
                with st.lock:
                    self._send_json(200, [r.as_dict() for r in st.rules])
            elif self.command == "DELETE":
                with st.lock:
                    st.rules.clear()
                self._send(204, [], b"")
            elif self.command == "POST":
                try:
                    spec = json.loads(body or b"null")
                    specs = spec if isinstance(spec, list) else [spec]
                    if not all(isinstance(s, dict) for s in specs):
                        raise ValueError("a rule is a JSON object")
                    made = st.add_rules(specs)
                except (ValueError, TypeError) as e:
                    self._send_json(400, {"error": f"bad fault rule: {e}"})
                    return True
                self._send_json(200, made if isinstance(spec, list) else made[0])
            else:
                self._send_json(405, {"error": "use GET, POST or DELETE"})
            return True
        if path == CONTROL_INFO:
            with st.lock:
                self._send_json(200, {"upstream": st.upstream, "calls": len(st.calls),
                                      "faults": len(st.rules)})
            return True
        return False

    # data plane
    def _handle(self) -> None:
        body = read_request_body(self)
        if self.path.startswith(CONTROL_PREFIX) and self._control(body):
            return
        started = time.monotonic()
        call = classify(self.command, self.path, self.headers, body)
        call.update({"time": time.time(), "status": None, "throttled": False,
                     "error_code": None, "duration_ms": None})
        self.state.add_call(call)
        rule = self.state.pick_fault(call)
        if rule is not None:
            status, headers, payload, code = throttle_response(call, rule.overrides())
            call.update({"status": status, "throttled": True, "error_code": code,
                         "fault_rule": rule.id,
                         "duration_ms": round((time.monotonic() - started) * 1000, 3)})
            self._send(status, headers, payload)
            return
        try:
            status, reason, headers, payload = self._forward(body)
        except OSError as e:
            call.update({"status": 502, "error_code": "UpstreamUnavailable",
                         "duration_ms": round((time.monotonic() - started) * 1000, 3)})
            self._send_json(502, {"error": f"upstream {self.state.upstream}: {e}"})
            return
        call.update({"status": status,
                     "duration_ms": round((time.monotonic() - started) * 1000, 3)})
        crash = self.state.crash_due(call)
        if crash is not None:  # the caller dies before it sees the answer
            call["killed_pid"] = crash.fire(
                {k: call[k] for k in ("seq", "service", "action")})
            self.close_connection = True
            return
        self._send(status, headers, payload, reason)

    def _forward(self, body: bytes):
        up = urlsplit(self.state.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True,
                            skip_accept_encoding=True)
            had_length = False
            for k, v in self.headers.items():
                lk = k.lower()
                if lk in HOP_BY_HOP:
                    continue
                if lk == "content-length":
                    had_length = True
                    continue
                conn.putheader(k, v)
            if body or had_length or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, resp.reason, list(resp.getheaders()), payload
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class FaultProxy(LoopbackHttpServer):
    """In-process fault proxy on loopback; ``upstream`` is the emulator URL."""

    def __init__(self, upstream: str, host: str = LOOPBACK, port: int = 0,
                 verbose: bool = False):
        up = urlsplit(upstream)
        if up.scheme != "http" or not up.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        if not is_loopback_host(up.hostname):
            raise ValueError(f"upstream must be on loopback, got {up.hostname!r}")
        super().__init__(host, port, verbose)
        self.upstream = upstream.rstrip("/")
        self._state = _State(self.upstream)

    handler = _Handler
    thread_name = "fault-proxy"

    def _attach(self, httpd) -> None:
        httpd.proxy_state = self._state  # type: ignore[attr-defined]

    # calls
    def calls(self, service: Optional[str] = None, action: Optional[str] = None) -> list[dict]:
        with self._state.lock:
            out = [dict(c) for c in self._state.calls]
        if service is not None:
            out = [c for c in out if c.get("service") == service]
        if action is not None:
            out = [c for c in out if c.get("action") == action]
        return out

    def actions(self, service: Optional[str] = None) -> list[str]:
        """Just the action names, in order (optionally of one service)."""
        return [c["action"] for c in self.calls(service)]

    def count(self, action: str, service: Optional[str] = None,
              throttled: Optional[bool] = None) -> int:
        return sum(1 for c in self.calls(service, action)
                   if throttled is None or c["throttled"] == throttled)

    def reset_calls(self) -> None:
        with self._state.lock:
            self._state.calls.clear()

    # faults
    def add_fault(self, actions: Union[str, list[str]], *, rate: Optional[float] = None,
                  seed: Optional[int] = None, first: Optional[int] = None,
                  services: Optional[list[str]] = None,
                  access_key_ids: Optional[list[str]] = None,
                  code: Optional[str] = None, status: Optional[int] = None,
                  message: Optional[str] = None) -> dict:
        spec = {"actions": [actions] if isinstance(actions, str) else actions,
                "rate": rate, "seed": seed, "first": first, "services": services,
                "access_key_ids": access_key_ids, "code": code, "status": status,
                "message": message}
        return self._state.add_rules([spec])[0]

    def faults(self) -> list[dict]:
        with self._state.lock:
            return [r.as_dict() for r in self._state.rules]

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.rules.clear()

    # crash hook
    def kill_after(self, n: int, pid: Union[int, Callable[[], Optional[int]]]) -> Crash:
        """SIGKILL ``pid`` right after the ``n``-th mutating call from now (see module doc)."""
        return self.arm(Crash(n, pid))

    def arm(self, crash: Optional[Crash]) -> Optional[Crash]:
        """Count this proxy's mutating calls towards ``crash`` (None: disarm)."""
        with self._state.lock:
            self._state.crash = crash
        return crash

    def kill_state(self) -> Optional[dict]:
        """``{"after", "seen", "fired"}`` of the armed crash (``fired``: the call and PID, once
        done), None when none is armed."""
        with self._state.lock:
            crash = self._state.crash
        return None if crash is None else crash.as_dict()

    def disarm(self) -> None:
        self.arm(None)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="fault-injecting proxy for the AWS emulator")
    ap.add_argument("--listen-host", default=LOOPBACK)
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:5055")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not is_loopback_host(args.listen_host):
        ap.error("--listen-host must be a loopback address")
    proxy = FaultProxy(args.upstream, args.listen_host, args.listen_port,
                       verbose=args.verbose).start()
    return proxy.serve_until_interrupted(f"fault proxy listening on {proxy.url} -> {proxy.upstream}")


if __name__ == "__main__":
    sys.exit(main())
