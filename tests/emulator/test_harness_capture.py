"""The CloudFormation response capture server (capture.py)."""

from __future__ import annotations

import http.client
import json
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture import CaptureServer  # noqa: E402
from testbed_util import free_port, http_json, start_process  # noqa: E402


def _put(url: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes, dict]:
    """PUT like the custom-resource helper does (empty Content-Type, JSON body)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        target = u.path + (f"?{u.query}" if u.query else "")
        conn.request("PUT", target, body=body, headers={"Content-Type": "", **(headers or {})})
        r = conn.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        conn.close()


CFN_RESPONSE = {
    "Status": "SUCCESS",
    "Reason": "See the details in CloudWatch Log Stream: 2024/01/01/[$LATEST]abc",
    "PhysicalResourceId": "autowire-vpce-0123",
    "StackId": "arn:aws:cloudformation:us-east-1:111111111111:stack/s/1",
    "RequestId": "d9f1c3a0-0000-4000-8000-000000000001",
    "LogicalResourceId": "Wire",
    "NoEcho": False,
    "Data": {"EndpointId": "vpce-0123", "Dns": "a.b.c"},
}


@pytest.fixture
def cap():
    with CaptureServer() as c:
        yield c


def test_records_exactly_what_was_put(cap):
    url = cap.response_url("/cfn/stack-1/Wire")
    raw = json.dumps(CFN_RESPONSE, separators=(",", ":")).encode()
    status, body, headers = _put(url, raw, {"X-Extra": "1"})
    assert status == 200
    assert body == b""  # S3 answers an empty 200
    assert headers["Content-Length"] == "0"

    [rec] = cap.responses("/cfn/stack-1/Wire")
    assert rec["body"] == CFN_RESPONSE
    assert rec["body_text"].encode() == raw
    assert rec["path"] == "/cfn/stack-1/Wire"
    assert rec["query"] == urlsplit(url).query
    assert rec["query_params"]["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert rec["headers"]["Content-Length"] == str(len(raw))
    assert rec["headers"]["Content-Type"] == ""
    assert rec["headers"]["X-Extra"] == "1"
    assert rec["status"] == 200
    assert rec["time"] > 0
    assert cap.responses("/other") == []


def test_http_inspection_filter_and_clear(cap):
    _put(cap.url + "/a", b'{"n":1}')
    _put(cap.url + "/b?x=1", b'{"n":2}')
    _put(cap.url + "/a", b"not json")

    status, all_ = http_json("GET", cap.url + "/_captured")
    assert status == 200
    assert [(r["path"], r["body"]) for r in all_] == [("/a", {"n": 1}), ("/b", {"n": 2}), ("/a", None)]
    assert all_[2]["body_text"] == "not json"
    assert [r["seq"] for r in all_] == [1, 2, 3]

    status, only_a = http_json("GET", cap.url + "/_captured?path=/a")
    assert [r["body_text"] for r in only_a] == ['{"n":1}', "not json"]

    status, _ = http_json("DELETE", cap.url + "/_captured")
    assert status == 204
    assert http_json("GET", cap.url + "/_captured")[1] == []
    assert cap.responses() == []


def test_fault_mode_fails_first_n_puts_then_accepts(cap):
    status, fault = http_json("POST", cap.url + "/_faults",
                              {"path": "/x", "fail_first": 2, "status": 500})
    assert status == 200 and fault["remaining"] == 2

    results = [_put(cap.url + "/x?sig=1", json.dumps({"try": i}).encode()) for i in range(3)]
    assert [r[0] for r in results] == [500, 500, 200]
    assert b"<Code>InternalError</Code>" in results[0][1]
    # other paths are untouched
    assert _put(cap.url + "/y", b"{}")[0] == 200

    # accepted ones only through responses(); every attempt through attempts()
    assert [r["body"] for r in cap.responses("/x")] == [{"try": 2}]
    assert [(a["body"], a["status"]) for a in cap.attempts("/x")] == [
        ({"try": 0}, 500), ({"try": 1}, 500), ({"try": 2}, 200)]
    status, accepted = http_json("GET", cap.url + "/_captured?path=/x&accepted=1")
    assert [r["body"] for r in accepted] == [{"try": 2}]

    faults = http_json("GET", cap.url + "/_faults")[1]
    assert faults[0]["injected"] == 2 and faults[0]["remaining"] == 0
    assert http_json("DELETE", cap.url + "/_faults")[0] == 204
    assert cap.faults() == []


def test_fault_mode_other_status_and_reset(cap):
    cap.fail("/forbidden", fail_first=1, status=403)
    status, body, _ = _put(cap.url + "/forbidden", b"{}")
    assert status == 403 and b"AccessDenied" in body

    cap.fail("/drop", fail_first=1, mode="reset")
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        _put(cap.url + "/drop", b'{"a":1}')
    assert _put(cap.url + "/drop", b'{"a":2}')[0] == 200
    assert [a["status"] for a in cap.attempts("/drop")] == [0, 200]


def test_wait_for(cap):
    with pytest.raises(TimeoutError):
        cap.wait_for("/late", timeout=0.2)
    _put(cap.url + "/late", b'{"Status":"FAILED"}')
    [rec] = cap.wait_for("/late", timeout=2)
    assert rec["body"]["Status"] == "FAILED"


def test_standalone_cli():
    port = free_port()
    proc = start_process(
        [sys.executable, str(Path(__file__).with_name("capture.py")),
         "--host", "127.0.0.1", "--port", str(port)],
        name="capture", ready_line=r"capture listening on http://127\.0\.0\.1:\d+",
        timeout=30,
    )
    try:
        assert proc.output("stdout")[0] == f"capture listening on http://127.0.0.1:{port}"
        req = urllib.request.Request(f"http://127.0.0.1:{port}/r/1", data=b'{"ok":true}',
                                     method="PUT")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        assert http_json("GET", f"http://127.0.0.1:{port}/_captured?path=/r/1")[1][0]["body"] == {"ok": True}
    finally:
        proc.stop()
