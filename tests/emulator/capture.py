"""CloudFormation response capture server: a stand-in for the pre-signed S3
``ResponseURL`` that CloudFormation hands a custom resource.

The Lambda under test PUTs its custom-resource response (a JSON document) to
``ResponseURL``; this server records every PUT and answers ``200`` with an
empty body, as S3 does.

HTTP interface
--------------
``PUT <any path>[?query]``
    recorded as ``{seq, path, query, query_params, headers, body, body_text,
    time, status}``; ``body`` is the parsed JSON (``None`` if the body is not
    JSON, then see ``body_text``).  Answer: 200, empty body (or the injected
    fault, see below; injected failures are recorded too, with their status).
``GET /_captured[?path=/x][&accepted=1]``
    JSON list of all recorded PUTs in arrival order; ``path`` filters on the
    exact path (no query string); ``accepted=1`` keeps only the ones answered
    200.
``DELETE /_captured``
    clears the records (and leaves faults alone).
``POST /_faults {"path": "/x", "fail_first": 2, "status": 500}``
    the next 2 PUTs to ``/x`` fail with HTTP 500 and an S3-style XML error
    body.  Optional ``"delay_ms"`` delays each failing answer; ``"mode":
    "reset"`` closes the connection without an answer instead.  Posting again
    for the same path replaces its fault.
``GET /_faults`` lists them, ``DELETE /_faults`` clears them.

Standalone::

    python capture.py --host 127.0.0.1 --port 8765
    # prints "capture listening on http://127.0.0.1:8765" when ready

Library::

    with CaptureServer() as cap:          # free port on 127.0.0.1
        url = cap.response_url("/stack/res-1")
        ...  # give url to the Lambda as ResponseURL
        [resp] = cap.wait_for("/stack/res-1")
        assert resp["body"]["Status"] == "SUCCESS"
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Optional
from urllib.parse import parse_qs, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testbed_util import LOOPBACK, LoopbackHttpServer, read_request_body  # noqa: E402

CONTROL_CAPTURED = "/_captured"
CONTROL_FAULTS = "/_faults"

_S3_ERRORS = {
    400: ("BadRequest", "Bad Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


class _State:
    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.records: list[dict] = []
        self.faults: dict[str, dict] = {}
        self.seq = 0

    def record(self, rec: dict) -> dict:
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.records.append(rec)
            self.lock.notify_all()
            return rec

    def take_fault(self, path: str) -> Optional[dict]:
        """Consume one failure budget unit for ``path``, if any is left."""
        with self.lock:
            f = self.faults.get(path)
            if not f or f["remaining"] <= 0:
                return None
            f["remaining"] -= 1
            f["injected"] += 1
            return dict(f)

    def select(self, path: Optional[str], accepted: bool) -> list[dict]:
        with self.lock:
            return [
                dict(r)
                for r in self.records
                if (path is None or r["path"] == path)
                and (not accepted or r["status"] == 200)
            ]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stalls
    server_version = "AmazonS3"
    sys_version = ""

    @property
    def state(self) -> _State:
        return self.server.capture_state  # type: ignore[attr-defined]

    def log_message(self, fmt, *args):  # quiet
        if getattr(self.server, "verbose", False):
            sys.stderr.write("capture: " + (fmt % args) + "\n")

    # -- helpers
    def _send(self, status: int, body: bytes = b"", ctype: Optional[str] = None,
              headers: Optional[dict] = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    # -- verbs
    def do_PUT(self):
        split = urlsplit(self.path)
        path = split.path
        raw = read_request_body(self)
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        rec = {
            "path": path,
            "query": split.query,
            "query_params": {k: v[0] if len(v) == 1 else v
                             for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            "headers": {k: v for k, v in self.headers.items()},
            "body": body,
            "body_text": text,
            "time": time.time(),
            "status": 200,
        }
        fault = self.state.take_fault(path)
        if fault is None:
            self.state.record(rec)
            self._send(200, headers={
                "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                "ETag": '"%s"' % uuid.uuid4().hex,
            })
            return
        if fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000.0)
        if fault.get("mode") == "reset":
            rec["status"] = 0
            rec["fault"] = "reset"
            self.state.record(rec)
            self.close_connection = True
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            except OSError:
                pass
            return
        status = int(fault.get("status", 500))
        rec["status"] = status
        rec["fault"] = "status"
        self.state.record(rec)
        code, msg = _S3_ERRORS.get(status, ("InternalError", "Injected failure"))
        req_id = uuid.uuid4().hex[:16].upper()
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{msg}</Message>"
            f"<RequestId>{req_id}</RequestId><HostId>capture</HostId></Error>"
        ).encode()
        self._send(status, xml, "application/xml", {"x-amz-request-id": req_id})

    def do_GET(self):
        split = urlsplit(self.path)
        q = parse_qs(split.query)
        if split.path == CONTROL_CAPTURED:
            path = q.get("path", [None])[0]
            accepted = q.get("accepted", ["0"])[0].lower() in ("1", "true", "yes")
            self._send_json(200, self.state.select(path, accepted))
        elif split.path == CONTROL_FAULTS:
            with self.state.lock:
                self._send_json(200, list(self.state.faults.values()))
        else:
            self._send_json(404, {"error": "not found", "path": split.path})

    def do_DELETE(self):
        split = urlsplit(self.path)
        if split.path == CONTROL_CAPTURED:
            with self.state.lock:
                self.state.records.clear()
            self._send(204)
        elif split.path == CONTROL_FAULTS:
            with self.state.lock:
                self.state.faults.clear()
            self._send(204)
        else:
            self._send_json(404, {"error": "not found", "path": split.path})

    def do_POST(self):
        split = urlsplit(self.path)
        raw = read_request_body(self)
        if split.path != CONTROL_FAULTS:
            self._send_json(404, {"error": "not found", "path": split.path})
            return
        try:
            spec = json.loads(raw or b"{}")
            fault = _normalise_fault(spec)
        except (ValueError, TypeError, KeyError) as e:
            self._send_json(400, {"error": f"bad fault spec: {e}"})
            return
        with self.state.lock:
            self.state.faults[fault["path"]] = fault
        self._send_json(200, fault)


def _normalise_fault(spec: dict) -> dict:
    path = spec["path"]
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("path must start with '/'")
    n = int(spec.get("fail_first", 1))
    mode = spec.get("mode", "status")
    if mode not in ("status", "reset"):
        raise ValueError("mode must be 'status' or 'reset'")
    return {
        "path": urlsplit(path).path,
        "fail_first": n,
        "remaining": n,
        "injected": 0,
        "status": int(spec.get("status", 500)),
        "delay_ms": int(spec.get("delay_ms", 0)),
        "mode": mode,
    }


class CaptureServer(LoopbackHttpServer):
    """In-process capture server on loopback (port 0 = pick a free one)."""

    handler = _Handler
    thread_name = "capture-server"

    def __init__(self, host: str = LOOPBACK, port: int = 0, verbose: bool = False):
        super().__init__(host, port, verbose)
        self._state = _State()

    def _attach(self, httpd) -> None:
        httpd.capture_state = self._state  # type: ignore[attr-defined]

    def response_url(self, path: str = "/", presigned: bool = True) -> str:
        """A ResponseURL for ``path``, with S3-presign-like query parameters."""
        if not path.startswith("/"):
            path = "/" + path
        if not presigned:
            return self.url + path
        q = urlencode({
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Expires": "7200",
            "X-Amz-Credential": "AKIAEXAMPLE/20200101/us-east-1/s3/aws4_request",
            "X-Amz-Signature": uuid.uuid4().hex * 2,
        })
        return f"{self.url}{path}?{q}"

    # inspection
    def responses(self, path: Optional[str] = None) -> list[dict]:
        """PUTs that were accepted (answered 200), optionally for one path."""
        return self._state.select(path, accepted=True)

    def attempts(self, path: Optional[str] = None) -> list[dict]:
        """Every PUT received, including those failed by an injected fault."""
        return self._state.select(path, accepted=False)

    def wait_for(self, path: Optional[str] = None, count: int = 1,
                 timeout: float = 10.0) -> list[dict]:
        """Wait until ``count`` accepted PUTs (to ``path``) are recorded."""
        deadline = time.monotonic() + timeout
        with self._state.lock:
            while True:
                got = self._state.select(path, accepted=True)
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"expected {count} accepted PUT(s) to {path or '*'} within "
                        f"{timeout}s, got {len(got)}; all attempts: "
                        f"{[(a['path'], a['status']) for a in self._state.select(None, False)]}"
                    )
                self._state.lock.wait(min(left, 0.2))

    def clear(self) -> None:
        with self._state.lock:
            self._state.records.clear()

    # faults
    def fail(self, path: str, fail_first: int = 1, status: int = 500,
             delay_ms: int = 0, mode: str = "status") -> dict:
        fault = _normalise_fault({"path": path, "fail_first": fail_first,
                                  "status": status, "delay_ms": delay_ms, "mode": mode})
        with self._state.lock:
            self._state.faults[fault["path"]] = fault
        return dict(fault)

    def faults(self) -> list[dict]:
        with self._state.lock:
            return [dict(f) for f in self._state.faults.values()]

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default=LOOPBACK)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    srv = CaptureServer(args.host, args.port, verbose=args.verbose).start()
    return srv.serve_until_interrupted(f"capture listening on {srv.url}")


if __name__ == "__main__":
    sys.exit(main())
