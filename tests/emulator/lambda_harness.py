"""Run a real Lambda ``bootstrap`` binary (built with ``lambda_runtime``) under
cargo-lambda's runtime emulator, and invoke it through the Lambda Invoke API.

Layout (everything on 127.0.0.1, free ports)::

    test ──POST /2015-03-31/functions/{name}/invocations──▶ cargo-lambda watch
                                                            (--only-lambda-apis)
    bootstrap ──AWS_LAMBDA_RUNTIME_API──▶ runtime proxy ──▶ cargo-lambda /.rt/{name}

* ``cargo lambda watch --only-lambda-apis`` serves the Invoke API and the
  Lambda Runtime API but starts no function and builds nothing.  It still
  reads a Cargo manifest (``cargo metadata --no-deps``) to learn which
  function names exist, so the harness runs it in a throw-away directory
  holding a one-line shim package whose only ``[[bin]]`` is named after the
  function.  It never compiles that shim.
* The harness starts the ``bootstrap`` itself, with the environment the
  Lambda service gives a function (``AWS_LAMBDA_RUNTIME_API``,
  ``AWS_LAMBDA_FUNCTION_NAME``, ...) plus the caller's ``env``.
* The runtime proxy sits between the bootstrap and cargo-lambda.  cargo-lambda
  1.9.2 hands out a fixed ``Lambda-Runtime-Deadline-Ms: 600000`` (an epoch
  time in 1970, i.e. long past) and ``function-arn`` as the invoked ARN; the
  proxy rewrites them to ``now + timeout_s`` and a real-looking ARN, so
  ``Context::deadline()`` means what it means on AWS.  With
  ``enforce_timeout`` (default) it also does what Lambda does at the
  deadline: the invocation fails with ``Sandbox.Timedout`` ("Task timed out
  after N seconds") and the sandbox is killed; the next invoke cold-starts a
  fresh process.

* Async invoke relay (opt-in, ``async_relay=True``).  cargo-lambda 1.9.2
  ignores ``X-Amz-Invocation-Type: Event``, and a function's Lambda client
  would go to ``AWS_ENDPOINT_URL`` (moto), which does not know the function.
  So a function that continues its work in an asynchronous invocation of
  itself (``lambda:Invoke``, InvocationType=Event) cannot run end to end.
  With the relay, the harness serves the Invoke API on one more loopback port
  (:class:`AsyncInvokeRelay`) and gives the function
  ``AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:<port>``: aws-config 1.x (and
  botocore) read ``AWS_ENDPOINT_URL_<SERVICE>`` before ``AWS_ENDPOINT_URL``,
  so only Lambda calls go to the relay (unless
  ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``, or the code sets an endpoint).
  The relay answers an Event invoke 202 at once and delivers it through
  :meth:`LambdaHarness.invoke_async` (one attempt, no retries);
  RequestResponse is delivered synchronously (200 + payload); an unknown
  function is 404 ``ResourceNotFoundException``.  ``relay_calls()`` lists
  what it received; ``drain_async(timeout)`` waits until every asynchronous
  invocation, the ones those start included, has finished::

      test ──invoke──▶ cargo-lambda ──▶ bootstrap ──lambda:Invoke(Event)──▶ relay
                            ▲                                               │ 202
                            └──────────── invoke_async(payload) ◀───────────┘

Usage::

    with LambdaHarness("/path/to/bootstrap", "provider",
                       env=fake_aws_env("http://127.0.0.1:5055"),
                       timeout_s=10) as fn:
        out = fn.invoke({"RequestType": "Create", ...})
        print(fn.cold_start_s, fn.json_logs())

    with LambdaHarness(bootstrap, "provider", env=env, async_relay=True) as fn:
        first = fn.invoke_detailed(event)        # may hand over to a continuation
        rest = fn.drain_async(timeout=120)       # every continuation, in order
        calls = fn.relay_calls()                 # what the function sent to Lambda
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import http.client
import json
import math
import os
import re
import select
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping, Optional, Union
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_proxy import Crash  # noqa: E402
from testbed_util import (  # noqa: E402
    LOOPBACK,
    LogLine,
    LoopbackHttpServer,
    ManagedProcess,
    ToolMissing,
    find_tool,
    free_port,
    read_request_body,
    start_process,
    stop_process,
)

RUNTIME_PREFIX = "/.rt"  # where cargo-lambda serves the Runtime API
DEFAULT_ACCOUNT = "123456789012"  # moto's default account
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_NEXT_RE = re.compile(r"/2018-06-01/runtime/invocation/next$")
_DONE_RE = re.compile(r"/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-connection", "content-length"}


# How many ports cargo-lambda's runtime emulator is started on before a lost port race counts.
PORT_ATTEMPTS = 3

class HarnessError(RuntimeError):
    """The harness or the emulator failed (not the function)."""


@dataclass
class Invocation:
    """One invocation's outcome, as seen by the caller of the Invoke API."""

    event: Any
    status: int  # HTTP status from the Invoke API (200 ok, 500 function error)
    payload: Any = None  # parsed response (None on error)
    error: Optional[dict] = None  # {"errorType", "errorMessage", ...} on error
    request_id: Optional[str] = None
    cold: bool = False  # first invocation of this process
    started: float = 0.0  # time.time() when the invoke was sent
    duration_s: float = 0.0  # invoke round trip
    deadline_ms: Optional[int] = None  # deadline handed to the function
    timed_out: bool = False  # killed by the harness at the deadline
    answered_ms: Optional[int] = None  # epoch ms the function posted its answer
    logs: list[LogLine] = field(default_factory=list)  # lines printed meanwhile

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def margin_ms(self) -> Optional[int]:
        """How long before its deadline the function answered (None: no answer)."""
        if self.answered_ms is None or self.deadline_ms is None:
            return None
        return self.deadline_ms - self.answered_ms

    @property
    def function_error(self) -> Optional[str]:
        """Like the X-Amz-Function-Error header: 'Unhandled' on error, else None."""
        return None if self.error is None else "Unhandled"

    @property
    def result(self) -> Any:
        """payload on success, the error dict on failure."""
        return self.payload if self.error is None else self.error


@dataclass
class _Pending:
    request_id: str
    delivered_mono: float
    deadline_ms: int
    timer: Optional[threading.Timer] = None
    done: bool = False
    timed_out: bool = False


class _RuntimeProxy:
    """Runtime API proxy between the bootstrap and cargo-lambda (see module doc).

    Events are pulled from cargo-lambda by a single puller thread, one at a
    time and only while a runtime is polling ``/next``; they are handed to a
    polling runtime whose connection is still open.  So an event is never
    lost to a runtime process that was killed while it was idle (cargo-lambda
    would otherwise hand the next event to the dead process's stale poll).
    """

    def __init__(self, harness: "LambdaHarness", upstream_port: int):
        self.h = harness
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.pending: dict[str, _Pending] = {}
        self.by_request: dict[str, _Pending] = {}
        self.first_next_mono: Optional[float] = None
        self.events: collections.deque = collections.deque()  # (status, reason, headers, body)
        self.waiters = 0
        self.pulling = False
        self.stopping = False
        self.pull_conn: Optional[http.client.HTTPConnection] = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stalls

            def log_message(self, fmt, *args):
                pass

            def _handle(self):
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       name="lambda-runtime-proxy", daemon=True)
        self.thread.start()
        self.puller = threading.Thread(target=self._pull_loop, name="lambda-runtime-puller",
                                       daemon=True)
        self.puller.start()

    def stop(self):
        with self.lock:
            self.stopping = True
            for p in self.pending.values():
                if p.timer:
                    p.timer.cancel()
            self.cond.notify_all()
        # drop the in-flight long poll, so cargo-lambda can shut down at once
        conn = self.pull_conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- upstream
    def _upstream(self, method: str, path: str, headers, body: Optional[bytes],
                  timeout: Optional[float], track: bool = False):
        conn = http.client.HTTPConnection(LOOPBACK, self.upstream_port, timeout=timeout)
        if track:
            self.pull_conn = conn
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", f"{LOOPBACK}:{self.upstream_port}")
            for k, v in headers:
                if k.lower() in _HOP or k.lower() == "host":
                    continue
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _pull_loop(self):
        path = f"{RUNTIME_PREFIX}/{self.h.function_name}/2018-06-01/runtime/invocation/next"
        while True:
            with self.lock:
                while not self.stopping and (self.waiters == 0 or self.events):
                    self.cond.wait(0.5)
                if self.stopping:
                    return
                self.pulling = True
            try:
                # long poll: cargo-lambda answers when an invoke arrives
                got = self._upstream("GET", path, [("User-Agent", "lambda-harness")], None, None,
                                     track=True)
            except (OSError, http.client.HTTPException):
                got = None
            with self.lock:
                self.pulling = False
                if got is not None and got[0] == 200:
                    self.events.append(got)
                    self.cond.notify_all()
            if got is None or got[0] != 200:
                time.sleep(0.1)

    # -- runtime side
    def _reply(self, handler, status, reason, headers, body):
        handler.send_response(status, reason)
        for k, v in headers:
            if k.lower() not in _HOP:
                handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()

    @staticmethod
    def _client_gone(handler) -> bool:
        sock = handler.connection
        try:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _serve_next(self, handler):
        with self.lock:
            if self.first_next_mono is None:
                self.first_next_mono = time.monotonic()
                self.h._on_runtime_ready()
            self.waiters += 1
            self.cond.notify_all()
            try:
                while True:
                    if self.stopping or self._client_gone(handler):
                        handler.close_connection = True
                        return
                    if self.events:
                        event = self.events.popleft()
                        break
                    self.cond.wait(0.2)
            finally:
                self.waiters -= 1
        status, reason, rh, rb = event
        rh, pending = self._hand_out(rh)
        try:
            self._reply(handler, status, reason, rh, rb)
        except OSError:
            # the runtime died between our check and the write: give the
            # event to the next runtime instead
            with self.lock:
                if pending is not None:
                    if pending.timer:
                        pending.timer.cancel()
                    self.pending.pop(pending.request_id, None)
                    self.by_request.pop(pending.request_id, None)
                self.events.appendleft(event)
                self.cond.notify_all()
            handler.close_connection = True

    def _serve(self, handler):
        body = read_request_body(handler)
        path = urlsplit(handler.path).path
        hdrs = list(handler.headers.items())
        if _NEXT_RE.search(path) and handler.command == "GET":
            self._serve_next(handler)
            return
        m = _DONE_RE.search(path)
        if m and handler.command == "POST":
            rid = m.group(1)
            with self.lock:
                p = self.by_request.get(rid)
                late = p is not None and p.timed_out
                if p is not None and not p.timed_out:
                    p.done = True
                    if p.timer:
                        p.timer.cancel()
                    self.pending.pop(rid, None)
            if late:
                # Lambda already failed this invocation; the answer is dropped.
                self._reply(handler, 410, "Gone", [("Content-Type", "application/json")],
                            b'{"errorType":"InvalidRequestID","errorMessage":"timed out"}')
                return
            self.h._on_invocation_done(rid, m.group(2))
        try:
            status, reason, rh, rb = self._upstream(handler.command, handler.path, hdrs, body, 30)
        except (OSError, http.client.HTTPException) as e:
            status, reason, rh = 502, "Bad Gateway", [("Content-Type", "text/plain")]
            rb = f"runtime API upstream failed: {e}".encode()
        try:
            self._reply(handler, status, reason, rh, rb)
        except OSError:
            handler.close_connection = True

    def _hand_out(self, headers):
        """Rewrite deadline/ARN at hand-out time; start the timeout clock."""
        h = self.h
        now_ms = int(time.time() * 1000)
        deadline_ms = now_ms + int(round(h.timeout_s * 1000))
        out = []
        rid = None
        for k, v in headers:
            lk = k.lower()
            if lk == "lambda-runtime-deadline-ms":
                v = str(deadline_ms)
            elif lk == "lambda-runtime-invoked-function-arn":
                v = h.function_arn
            elif lk == "lambda-runtime-aws-request-id":
                rid = v
            out.append((k, v))
        p = None
        if rid:
            p = _Pending(rid, time.monotonic(), deadline_ms)
            with self.lock:
                self.pending[rid] = p
                self.by_request[rid] = p
                if h.enforce_timeout:
                    p.timer = threading.Timer(h.timeout_s, self._on_deadline, args=(rid,))
                    p.timer.daemon = True
                    p.timer.start()
            h._on_event_delivered(rid, deadline_ms)
        return out, p

    def _on_deadline(self, rid: str):
        with self.lock:
            p = self.pending.get(rid)
            if p is None or p.done:
                return
            p.timed_out = True
            self.pending.pop(rid, None)
        self.h._on_timeout(rid)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        self._fail_upstream(
            rid, "Sandbox.Timedout",
            f"{ts}Z {rid} Task timed out after {self.h.timeout_s:.2f} seconds")

    def _fail_upstream(self, rid: str, etype: str, message: str):
        body = json.dumps({"errorType": etype, "errorMessage": message}).encode()
        path = (f"{RUNTIME_PREFIX}/{self.h.function_name}/2018-06-01/runtime/"
                f"invocation/{rid}/error")
        try:
            self._upstream("POST", path, [("Content-Type", "application/json"),
                                          ("Lambda-Runtime-Function-Error-Type", etype)],
                           body, 10)
        except (OSError, http.client.HTTPException):
            pass


def _header(headers, name: str) -> Optional[str]:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


# ------------------------------------------------------------ async invoke relay

_INVOKE_PATH_RE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")
# FunctionName as the Invoke API takes it: a name, "name:qualifier", a partial ARN
# ("<account>:function:<name>"), or a full ARN, with an optional qualifier.
_FUNCTION_REF_RE = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]{1,140})"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$")
INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")
_LOG_TAIL_BYTES = 4096  # X-Amz-Log-Result: the last 4 KB of the invocation's output


class _ApiError(Exception):
    """An Invoke API error, answered in Lambda's REST-JSON error format."""

    def __init__(self, status: int, etype: str, message: str, kind: str = "User"):
        super().__init__(message)
        self.status, self.etype, self.message, self.kind = status, etype, message, kind


@dataclass
class RelayCall:
    """One Invoke request the relay received (any outcome, 404s included)."""

    function_name: str  # FunctionName as sent (URL-decoded): name, ARN or partial ARN
    invocation_type: str  # X-Amz-Invocation-Type; RequestResponse when absent
    qualifier: Optional[str]  # from the ARN/name suffix or ?Qualifier=
    payload: Any  # the event (parsed JSON; {} for an empty body, None if not JSON)
    body: bytes = field(repr=False)
    time: float  # time.time() on arrival
    monotonic: float
    status: int = 0  # HTTP status the relay answered (202, 200, 204, 404, ...)
    error_type: Optional[str] = None  # x-amzn-ErrorType it answered, if any
    target: Optional[str] = None  # harness function it went to (None: not delivered)
    future: Optional["concurrent.futures.Future[Invocation]"] = field(default=None, repr=False)
    sync_invocation: Optional[Invocation] = field(default=None, repr=False)

    @property
    def delivered(self) -> bool:
        return self.target is not None

    @property
    def done(self) -> bool:
        """The delivered invocation has finished (True for calls never delivered)."""
        return self.future is None or self.future.done()

    @property
    def invocation(self) -> Optional[Invocation]:
        """The function's :class:`Invocation` once finished (None before, or on a
        harness-level failure: see ``future.exception()``)."""
        if self.sync_invocation is not None:
            return self.sync_invocation
        f = self.future
        if f is None or not f.done() or f.cancelled() or f.exception() is not None:
            return None
        return f.result()


class _RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # SDKs keep connections alive
    disable_nagle_algorithm = True
    server_version = "lambda-harness-relay"

    def log_message(self, fmt, *args):
        if getattr(self.server, "verbose", False):
            sys.stderr.write("[lambda-relay] " + (fmt % args) + "\n")

    def _handle(self):
        self.server.relay._serve(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class AsyncInvokeRelay(LoopbackHttpServer):
    """The Lambda Invoke API on loopback, delivering to :class:`LambdaHarness` functions.

    Answers ``POST /2015-03-31/functions/{FunctionName}/invocations`` as Lambda does:

    * ``X-Amz-Invocation-Type: Event``: 202 with an empty body at once; the payload
      goes to the function through :meth:`LambdaHarness.invoke_async` (one attempt:
      no retries, dead-letter queues or destinations);
    * ``RequestResponse`` (the default): delivered synchronously; 200 with the
      function's payload, or with ``X-Amz-Function-Error: Unhandled`` and the error
      document when the function failed; ``X-Amz-Log-Type: Tail`` adds
      ``X-Amz-Log-Result``.  It waits for the harness's single instance, so a
      function that invokes *itself* synchronously waits for its own deadline;
    * ``DryRun``: 204.

    FunctionName may be a name, a full or partial ARN, with or without a qualifier
    (``:$LATEST`` or ``?Qualifier=$LATEST``; the harness has no other versions or
    aliases).  A name, region or account no target has:
    404 ``ResourceNotFoundException`` / ``Function not found: <arn>``.  Errors use
    Lambda's REST-JSON format: header ``x-amzn-ErrorType`` and body
    ``{"Type": "User", "message": ...}``.  Any other path or method: 404
    ``UnknownOperationException`` (*relay wording*).

    Every Invoke request is recorded as a :class:`RelayCall` (:meth:`calls`).

    Crash hook: :meth:`kill_after` (or :meth:`arm`, sharing a ``fault_proxy.Crash`` with the
    fault proxy so it counts the function's AWS calls and Event invokes together) SIGKILLs a
    process right after the n-th Event invoke was accepted (delivered, as Lambda queues it)
    and before its 202 goes out: a function that dies right after handing its work over.
    """

    handler = _RelayHandler
    thread_name = "lambda-invoke-relay"

    def __init__(self, targets=(), *, region: Optional[str] = None,
                 account: Optional[str] = None, host: str = LOOPBACK, port: int = 0,
                 verbose: bool = False):
        super().__init__(host=host, port=port, verbose=verbose)
        self._requested_port = port
        self._targets: list[LambdaHarness] = list(targets)
        first = self._targets[0] if self._targets else None
        self.region = region or (first.region if first else "us-east-1")
        self.account = account or (first.account if first else DEFAULT_ACCOUNT)
        self._lock = threading.Lock()
        self._calls: list[RelayCall] = []
        self._crash: Optional[Crash] = None

    def add(self, harness: "LambdaHarness") -> "AsyncInvokeRelay":
        """Serve one more function."""
        with self._lock:
            self._targets.append(harness)
        return self

    def _attach(self, httpd: ThreadingHTTPServer) -> None:
        httpd.relay = self  # type: ignore[attr-defined]

    def start(self) -> "AsyncInvokeRelay":
        if self._httpd is None:
            self.port = self._requested_port  # a restart binds a fresh free port
        super().start()
        return self

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def calls(self) -> list[RelayCall]:
        """Every Invoke request received so far, in arrival order."""
        with self._lock:
            return list(self._calls)

    # -- crash hook
    def kill_after(self, n: int, pid) -> Crash:
        """SIGKILL ``pid`` (an int or a callable) once the ``n``-th Event invoke from now has
        been accepted, before it is answered."""
        return self.arm(Crash(n, pid))

    def arm(self, crash: Optional[Crash]) -> Optional[Crash]:
        """Count Event invokes towards ``crash`` (None: disarm)."""
        with self._lock:
            self._crash = crash
        return crash

    def disarm(self) -> None:
        self.arm(None)

    def kill_state(self) -> Optional[dict]:
        with self._lock:
            crash = self._crash
        return None if crash is None else crash.as_dict()

    # -- request handling
    def _resolve(self, ref: str, query_qualifier: Optional[str]):
        """(harness, qualifier) for a FunctionName, or raise _ApiError."""
        m = _FUNCTION_REF_RE.match(ref)
        if m is None:
            raise _ApiError(
                400, "ValidationException",
                f"1 validation error detected: Value '{ref}' at 'functionName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                + _FUNCTION_REF_RE.pattern)
        qualifier = m.group("qualifier")
        if qualifier and query_qualifier and qualifier != query_qualifier:
            raise _ApiError(400, "InvalidParameterValueException",
                            "The derived qualifier from the function name does not match "
                            "the specified qualifier.")
        qualifier = qualifier or query_qualifier
        name = m.group("name")
        region = m.group("region") or self.region
        account = m.group("account") or self.account
        with self._lock:
            targets = list(self._targets)
        for h in targets:
            if (h.function_name == name and h.region == region and h.account == account
                    and qualifier in (None, "$LATEST")):
                return h, qualifier
        arn = (f"arn:{m.group('partition') or 'aws'}:lambda:{region}:{account}:function:{name}"
               + (f":{qualifier}" if qualifier else ""))
        raise _ApiError(404, "ResourceNotFoundException", f"Function not found: {arn}")

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = read_request_body(handler)
        parts = urlsplit(handler.path)
        m = _INVOKE_PATH_RE.match(parts.path)
        if handler.command != "POST" or m is None:
            self._send_error(handler, _ApiError(
                404, "UnknownOperationException",
                f"Unknown operation: {handler.command} {parts.path}"))
            return
        query = parse_qs(parts.query)
        itype = handler.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        call = RelayCall(
            function_name=unquote(m.group(1)), invocation_type=itype,
            qualifier=(query.get("Qualifier") or [None])[0], payload=None, body=body,
            time=time.time(), monotonic=time.monotonic())
        with self._lock:
            self._calls.append(call)
        try:
            if itype not in INVOCATION_TYPES:
                raise _ApiError(
                    400, "ValidationException",
                    f"1 validation error detected: Value '{itype}' at 'invocationType' failed "
                    "to satisfy constraint: Member must satisfy enum value set: "
                    "[Event, RequestResponse, DryRun]")
            target, qualifier = self._resolve(call.function_name, call.qualifier)
            call.qualifier = qualifier
            try:
                call.payload = json.loads(body) if body.strip() else {}
            except ValueError as e:
                raise _ApiError(400, "InvalidRequestContentException",
                                f"Could not parse request body into json: {e}") from None
            if itype == "DryRun":
                call.status = 204
                self._send(handler, 204, b"")
            elif itype == "Event":
                # registered before the 202 goes out: a caller that got its 202 can
                # rely on drain_async() waiting for this invocation
                call.future = target.invoke_async(call.payload)
                call.target = target.function_name
                with self._lock:
                    crash = self._crash
                if crash is not None and crash.count():
                    # accepted and queued; the caller dies before it hears so
                    crash.fire({"service": "lambda", "action": "Invoke",
                                "function": call.function_name, "invocation_type": itype})
                    handler.close_connection = True
                    return
                call.status = 202
                self._send(handler, 202, b"")
            else:
                call.target = target.function_name
                try:
                    inv = target.invoke_detailed(call.payload)
                except HarnessError as e:
                    raise _ApiError(500, "ServiceException", f"harness: {e}"[:2000],
                                    kind="Service") from None
                call.sync_invocation = inv
                call.status = 200
                headers = [("X-Amz-Executed-Version", "$LATEST")]
                if inv.error is not None:
                    headers.append(("X-Amz-Function-Error", "Unhandled"))
                if (handler.headers.get("X-Amz-Log-Type") or "").lower() == "tail":
                    text = "".join(l.line + "\n" for l in inv.logs).encode()
                    headers.append(("X-Amz-Log-Result",
                                    base64.b64encode(text[-_LOG_TAIL_BYTES:]).decode()))
                self._send(handler, 200, json.dumps(inv.result).encode(), headers)
        except _ApiError as e:
            call.status, call.error_type = e.status, e.etype
            self._send_error(handler, e)

    def _send(self, handler, status: int, body: bytes, headers=()) -> None:
        try:
            handler.send_response(status)
            handler.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            if body:
                handler.send_header("Content-Type", "application/json")
            for k, v in headers:
                handler.send_header(k, v)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if body:
                handler.wfile.write(body)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True

    def _send_error(self, handler, e: _ApiError) -> None:
        body = json.dumps({"Type": e.kind, "message": e.message}).encode()
        self._send(handler, e.status, body, [("x-amzn-ErrorType", e.etype)])


class LambdaHarness:
    """A Lambda function (real bootstrap binary) behind cargo-lambda's emulator.

    Parameters
    ----------
    binary_path: the ``bootstrap`` executable (any ``lambda_runtime`` binary).
    function_name: the Lambda function name (``[A-Za-z0-9_-]``, not ``_``).
    env: extra environment for the function (AWS keys, ``AWS_ENDPOINT_URL``,
        ``AWS_REGION``, ``RUST_LOG``...).  Applied last: it overrides the
        defaults below.
    timeout_s: the function's configured timeout; its deadline is
        ``now + timeout_s`` at each event delivery.
    enforce_timeout: at the deadline, fail the invocation with
        ``Sandbox.Timedout`` and kill the process (as Lambda does).
    memory_mb: ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``.
    inherit_env: start the function from this process's environment instead
        of a clean one (clean: only PATH/LANG/TZ and the Lambda variables).
    invoke_timeout_s: passed to ``cargo lambda watch --timeout`` (seconds the
        emulator waits for an answer before replying 408); default none.
    region/account: used for ``AWS_REGION`` (unless env sets it) and the
        invoked function ARN.
    prestart: start the function process in ``start()``.  By default it is
        started on the first invoke, as Lambda does (on-demand init), so
        ``cold_start_s`` is exactly "process start -> first response".
    async_relay: also run an :class:`AsyncInvokeRelay` for this function and
        give the function ``AWS_ENDPOINT_URL_LAMBDA`` pointing at it (set after
        ``env``: the opt-in wins), so its own ``lambda:Invoke`` calls, Event
        ones included, come back to this harness while other services keep
        ``AWS_ENDPOINT_URL``.  See :meth:`relay_calls` and :meth:`drain_async`.
    """

    def __init__(
        self,
        binary_path: Union[str, Path],
        function_name: str = "function",
        env: Optional[Mapping[str, str]] = None,
        timeout_s: float = 30.0,
        *,
        enforce_timeout: bool = True,
        memory_mb: int = 128,
        inherit_env: bool = False,
        invoke_timeout_s: Optional[float] = None,
        region: Optional[str] = None,
        account: str = DEFAULT_ACCOUNT,
        startup_timeout_s: float = 30.0,
        echo_logs: bool = False,
        cargo_lambda: Optional[str] = None,
        prestart: bool = False,
        async_relay: bool = False,
    ):
        self.binary_path = Path(binary_path).resolve()
        if not _NAME_RE.match(function_name) or function_name == "_":
            raise ValueError(f"invalid function name {function_name!r}")
        self.function_name = function_name
        self.user_env = dict(env or {})
        self.timeout_s = float(timeout_s)
        self.enforce_timeout = enforce_timeout
        self.memory_mb = int(memory_mb)
        self.inherit_env = inherit_env
        self.invoke_timeout_s = invoke_timeout_s
        self.region = (region or self.user_env.get("AWS_REGION")
                       or self.user_env.get("AWS_DEFAULT_REGION") or "us-east-1")
        self.account = account
        self.function_arn = (f"arn:aws:lambda:{self.region}:{self.account}:"
                             f"function:{function_name}")
        self.startup_timeout_s = startup_timeout_s
        self.echo_logs = echo_logs
        self._cargo_lambda = cargo_lambda
        self.prestart = prestart

        self.port: Optional[int] = None
        self._workdir: Optional[str] = None
        self._emulator: Optional[ManagedProcess] = None
        self._last_emulator: Optional[ManagedProcess] = None
        self._proxy: Optional[_RuntimeProxy] = None
        self._proc: Optional[ManagedProcess] = None
        self._procs: list[ManagedProcess] = []  # every bootstrap process, in order
        self._lock = threading.RLock()
        self._invoke_lock = threading.Lock()
        self._spawn_mono: Optional[float] = None
        self._ready_mono: Optional[float] = None
        self._served_since_spawn = 0
        self._last_delivery: dict = {}
        self._timeouts: set[str] = set()
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._async_futures: list[concurrent.futures.Future] = []  # every invoke_async
        self._async_drained = 0  # how many of them drain_async() has returned
        self.async_relay = async_relay
        self._relay: Optional[AsyncInvokeRelay] = (
            AsyncInvokeRelay([self], region=self.region, account=self.account,
                             verbose=echo_logs) if async_relay else None)

        self.invocations: list[Invocation] = []
        self.cold_starts: list[float] = []  # spawn -> first response, per process
        self.init_durations: list[float] = []  # spawn -> first /next, per process

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> "LambdaHarness":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "LambdaHarness":
        if self._emulator is not None:
            return self
        if not self.binary_path.is_file() or not os.access(self.binary_path, os.X_OK):
            raise HarnessError(f"bootstrap binary not executable: {self.binary_path}")
        cl = self._cargo_lambda or find_tool("cargo-lambda")
        if cl is None:
            raise ToolMissing("cargo-lambda not found (run `make venv`)")
        cargo = shutil.which("cargo")
        if cargo is None:
            raise ToolMissing("cargo not found: cargo-lambda needs it for `cargo metadata`")
        try:
            self._start_emulator(cl, cargo)
            self._proxy = _RuntimeProxy(self, self.port)
            if self._relay is not None:
                self._relay.start()
            if self.prestart:
                self._spawn()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        with self._lock:
            if self._relay is not None:
                self._relay.stop()  # first: no new async invocations (its calls are kept)
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            if self._proc is not None:
                self._proc.stop(timeout=3)
                self._proc = None
            if self._proxy is not None:
                self._proxy.stop()
                self._proxy = None
            if self._emulator is not None:
                # cargo-lambda shuts down gracefully on SIGINT/SIGTERM (1 s budget)
                self._emulator.stop(timeout=5)
                self._last_emulator = self._emulator
                self._emulator = None
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def _start_emulator(self, cl: str, cargo: str) -> None:
        self._workdir = tempfile.mkdtemp(prefix="lambda-harness-")
        wd = Path(self._workdir)
        # A manifest cargo-lambda can read with `cargo metadata --no-deps`.  It
        # lists the function name as a binary target; nothing is ever built.
        (wd / "Cargo.toml").write_text(
            "[package]\n"
            'name = "lambda-harness-shim"\n'
            'version = "0.0.0"\n'
            'edition = "2021"\n'
            "publish = false\n\n"
            "[[bin]]\n"
            f'name = "{self.function_name}"\n'
            'path = "main.rs"\n\n'
            "[workspace]\n"
        )
        (wd / "main.rs").write_text("fn main() {}\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "CARGO_LAMBDA_")) and k != "RUST_LOG"}
        env.update({
            "PATH": f"{Path(cargo).parent}{os.pathsep}{env.get('PATH', '')}",
            "CARGO_LAMBDA_COLOR": "never",
            "NO_COLOR": "1",
            "CARGO_NET_OFFLINE": "true",  # `cargo metadata` must not touch the network
            "CARGO_TARGET_DIR": str(wd / "target"),
            "RUST_LOG": "cargo_lambda=info",
        })
        # free_port() closes the port before cargo-lambda binds it, so under load another
        # process may take it first: cargo-lambda then stops at once ("terminating lambda
        # scheduler", status 0). That is the test bed losing a race, not a finding: take another
        # port, a few times.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = free_port()
            try:
                self._emulator = start_process(
                    self._emulator_cmd(cl), name="cargo-lambda", env=env, cwd=wd,
                    ready_port=self.port, timeout=self.startup_timeout_s, echo=self.echo_logs,
                )
                return
            except RuntimeError as e:
                if attempt == PORT_ATTEMPTS or "exited with 0 before" not in str(e):
                    raise

    def _emulator_cmd(self, cl: str) -> list[str]:
        cmd = [
            cl, "lambda", "watch",
            "--only-lambda-apis",
            "--invoke-address", LOOPBACK,
            "--invoke-port", str(self.port),
            "--ignore-changes",
        ]
        if self.invoke_timeout_s is not None:
            cmd += ["--timeout", str(max(1, math.ceil(self.invoke_timeout_s)))]
        return cmd

    def function_env(self) -> dict[str, str]:
        """The environment the bootstrap is started with."""
        if self.inherit_env:
            env = dict(os.environ)
        else:
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC"}
        env.update({
            "AWS_LAMBDA_RUNTIME_API":
                f"http://{LOOPBACK}:{self._proxy.port if self._proxy else 0}"
                f"{RUNTIME_PREFIX}/{self.function_name}",
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + "harness",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "LAMBDA_TASK_ROOT": str(self.binary_path.parent),
            "_HANDLER": "bootstrap",
            # never let an SDK fall back to the instance metadata address
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        env.update(self.user_env)
        if self._relay is not None and self._relay.running:
            # aws-config 1.x (and botocore) read AWS_ENDPOINT_URL_<SERVICE> before
            # AWS_ENDPOINT_URL; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true disables both
            env["AWS_ENDPOINT_URL_LAMBDA"] = self._relay.url
        return env

    def _spawn(self) -> None:
        with self._lock:
            self._spawn_mono = time.monotonic()
            self._ready_mono = None
            self._served_since_spawn = 0
            if self._proxy is not None:
                with self._proxy.lock:
                    self._proxy.first_next_mono = None
            self._proc = start_process(
                [str(self.binary_path)], name=self.function_name,
                env=self.function_env(), cwd=str(self.binary_path.parent),
                echo=self.echo_logs,
            )
            self._procs.append(self._proc)
            threading.Thread(target=self._watch_exit, args=(self._proc,),
                             name=f"{self.function_name}-exit-watch", daemon=True).start()

    def _watch_exit(self, proc: ManagedProcess) -> None:
        """If the process dies during an invocation, fail it as Lambda does."""
        code = proc.popen.wait()
        proxy = self._proxy
        if proxy is None:
            return
        with proxy.lock:
            lost = [p for p in proxy.pending.values() if not p.done and not p.timed_out]
            for p in lost:
                p.done = True
                if p.timer:
                    p.timer.cancel()
                proxy.pending.pop(p.request_id, None)
        for p in lost:
            how = f"signal {-code}" if code < 0 else f"exit status {code}"
            proxy._fail_upstream(
                p.request_id, "Runtime.ExitError",
                f"RequestId: {p.request_id} Error: Runtime exited with error: {how}")

    def _ensure_running(self) -> None:
        with self._lock:
            if self._emulator is None:
                raise HarnessError("harness not started")
            if not self._emulator.alive():
                raise HarnessError(
                    f"cargo-lambda exited ({self._emulator.popen.returncode}):\n"
                    + self._emulator.text()[-4000:])
            if self._proc is None or not self._proc.alive():
                self._spawn()

    def restart(self) -> None:
        """Kill the function process; the next invoke cold-starts a new one."""
        with self._lock:
            if self._proc is not None:
                self._proc.stop(timeout=3)
            if self.prestart:
                self._spawn()

    # ------------------------------------------------------ proxy callbacks

    def _on_runtime_ready(self) -> None:
        if self._spawn_mono is not None and self._ready_mono is None:
            self._ready_mono = time.monotonic()
            self.init_durations.append(self._ready_mono - self._spawn_mono)

    def _on_event_delivered(self, rid: str, deadline_ms: int) -> None:
        self._last_delivery = {"request_id": rid, "deadline_ms": deadline_ms}

    def _on_invocation_done(self, rid: str, kind: str) -> None:
        if self._last_delivery.get("request_id") == rid:
            self._last_delivery["answered_ms"] = int(time.time() * 1000)

    def _on_timeout(self, rid: str) -> None:
        self._timeouts.add(rid)
        proc = self._proc
        if proc is not None:
            # Lambda freezes and discards the sandbox: kill it hard.
            import signal as _signal

            stop_process(proc.popen, timeout=2, sig=_signal.SIGKILL)

    # --------------------------------------------------------------- invoke

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def invoke_url(self) -> str:
        return f"{self.url}/2015-03-31/functions/{self.function_name}/invocations"

    def invoke(self, event: Any) -> Any:
        """Invoke synchronously; returns the payload, or the error dict
        (``{"errorType", "errorMessage"}``) when the function failed."""
        return self.invoke_detailed(event).result

    def invoke_detailed(self, event: Any, http_timeout_s: Optional[float] = None) -> Invocation:
        """Invoke synchronously (RequestResponse) and return an :class:`Invocation`."""
        with self._invoke_lock:  # one instance, one event at a time, as Lambda
            self._ensure_running()
            proc = self._proc
            cold = self._served_since_spawn == 0
            body = json.dumps(event).encode()
            n_lines = len(proc.lines)
            self._last_delivery = {}
            started, t0 = time.time(), time.monotonic()
            timeout = http_timeout_s or (self.timeout_s + 30.0)
            conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)
            try:
                conn.request("POST", urlsplit(self.invoke_url).path, body=body, headers={
                    "Content-Type": "application/json",
                    "X-Amz-Invocation-Type": "RequestResponse",
                })
                resp = conn.getresponse()
                raw = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as e:
                raise HarnessError(f"invoke failed: {e}") from e
            finally:
                conn.close()
            t1 = time.monotonic()
            with self._lock:
                if cold and self._spawn_mono is not None:
                    self.cold_starts.append(t1 - self._spawn_mono)
                self._served_since_spawn += 1
            delivered = dict(self._last_delivery)
            time.sleep(0.02)  # let the output readers catch up
            inv = Invocation(event=event, status=status, cold=cold, started=started,
                             duration_s=t1 - t0,
                             request_id=delivered.get("request_id"),
                             deadline_ms=delivered.get("deadline_ms"),
                             answered_ms=delivered.get("answered_ms"),
                             logs=list(proc.lines[n_lines:]))
            try:
                parsed = json.loads(raw) if raw.strip() else None
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
            if status == 200:
                inv.payload = parsed
            elif status == 500 and isinstance(parsed, dict):
                inv.error = parsed
                inv.timed_out = parsed.get("errorType") == "Sandbox.Timedout"
            else:
                raise HarnessError(
                    f"invoke answered HTTP {status}: {raw[:2000]!r}"
                    + ("" if self._emulator is None else
                       "\ncargo-lambda output:\n" + self._emulator.text()[-2000:]))
            self.invocations.append(inv)
            return inv

    def invoke_async(self, event: Any) -> "concurrent.futures.Future[Invocation]":
        """Fire-and-forget invoke (InvocationType=Event), emulated by the harness.

        cargo-lambda 1.9.2 ignores ``X-Amz-Invocation-Type: Event`` and always
        answers synchronously, so the harness sends a normal invoke from a
        background thread and returns at once (Lambda would answer 202).
        The Future resolves to the :class:`Invocation`; :meth:`drain_async`
        waits for all of them.
        """
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=4, thread_name_prefix="lambda-async")
            fut = self._executor.submit(self.invoke_detailed, event)
            self._async_futures.append(fut)
            return fut

    def drain_async(self, timeout: float = 60.0) -> list[Invocation]:
        """Wait until no asynchronous invocation is left, then return them.

        Waits for every :meth:`invoke_async` future, those the relay started
        included, and for the ones *they* start meanwhile: a relayed Event is
        registered before its 202 goes out, hence before the invocation that
        sent it can finish, so a chain of continuations is drained to its end.
        Returns the :class:`Invocation` of each one finished since the previous
        ``drain_async`` (start order; function errors and timeouts are
        Invocations too).  Raises TimeoutError when some are still running
        after ``timeout`` s, HarnessError when one failed in the harness itself
        (e.g. the emulator answered 408, or the harness was stopped).
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                batch = self._async_futures[self._async_drained:]
                pending = [f for f in batch if not f.done()]
                if not pending:
                    self._async_drained = len(self._async_futures)
                    break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{len(pending)} asynchronous invocation(s) of {self.function_name} "
                    f"still running after {timeout}s")
            concurrent.futures.wait(pending, timeout=min(left, 1.0),
                                    return_when=concurrent.futures.FIRST_COMPLETED)
        out: list[Invocation] = []
        for f in batch:
            if f.cancelled():
                raise HarnessError("an asynchronous invocation was cancelled (harness stopped)")
            exc = f.exception()
            if exc is not None:
                raise HarnessError(f"an asynchronous invocation failed: {exc}") from exc
            out.append(f.result())
        return out

    # ------------------------------------------------------------ relay

    @property
    def relay(self) -> Optional[AsyncInvokeRelay]:
        return self._relay

    @property
    def relay_url(self) -> Optional[str]:
        """The relay's base URL (what AWS_ENDPOINT_URL_LAMBDA is), None without one."""
        return self._relay.url if self._relay is not None and self._relay.running else None

    def relay_calls(self) -> list[RelayCall]:
        """Every Invoke request the relay received (kept after stop())."""
        return self._relay.calls() if self._relay is not None else []

    # ----------------------------------------------------------- inspection

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc else None

    @property
    def cold_start_s(self) -> Optional[float]:
        """Process start -> first invocation response, for the first process."""
        return self.cold_starts[0] if self.cold_starts else None

    @property
    def init_duration_s(self) -> Optional[float]:
        """Process start -> first Runtime API poll (init done), first process."""
        return self.init_durations[0] if self.init_durations else None

    def logs(self, stream: Optional[str] = None) -> list[LogLine]:
        """Every line the function printed (all processes), in order."""
        out = []
        for p in self._procs:
            with p._cond:
                out.extend(l for l in p.lines if stream in (None, l.stream))
        return out

    def stdout_lines(self) -> list[str]:
        return [l.line for l in self.logs("stdout")]

    def stderr_lines(self) -> list[str]:
        return [l.line for l in self.logs("stderr")]

    def json_logs(self, stream: Optional[str] = None) -> list[dict]:
        """The lines that parse as JSON objects (our binaries log JSON)."""
        return [j for j in (l.json for l in self.logs(stream)) if isinstance(j, dict)]

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> LogLine:
        if self._proc is None:
            raise HarnessError("no function process")
        return self._proc.wait_for_line(pattern, timeout=timeout)

    def emulator_output(self) -> str:
        """What cargo-lambda printed (kept after stop())."""
        em = self._emulator or self._last_emulator
        return em.text() if em else ""


__all__ = ["AsyncInvokeRelay", "HarnessError", "Invocation", "LambdaHarness", "RelayCall"]
