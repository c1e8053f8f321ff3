"""The harness's async invoke relay (lambda_harness.AsyncInvokeRelay, ``async_relay=True``).

cargo-lambda ignores InvocationType=Event, so the relay serves the Lambda Invoke API itself
and hands Event invokes to the harness asynchronously.  Tested with:

* boto3 clients in the test pointed at the relay (what an SDK sends, what it gets back);
* a Python custom-runtime ``bootstrap`` (generated below) whose own boto3 Lambda client
  finds the relay only through ``AWS_ENDPOINT_URL_LAMBDA``, and which continues in an
  asynchronous invocation of its own ARN, as crates/autowire/src/cfn does;
* the real Rust binary named by ``AUTOWIRE_TEST_BOOTSTRAP`` (its environment only).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from testbed_fixtures import python_bootstrap  # noqa: E402
from lambda_harness import AsyncInvokeRelay, LambdaHarness  # noqa: E402
from testbed_util import fake_aws_env, in_ci, port_open, skip_or_fail  # noqa: E402

if in_ci():
    import boto3
    import botocore.exceptions
    from botocore.config import Config
else:
    boto3 = pytest.importorskip("boto3")
    import botocore.exceptions
    from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "123456789012"
FN = "relay-fn"
FN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FN}"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
# Nothing listens on the discard port: any non-Lambda call the function made would fail.
OTHER_SERVICES = "http://127.0.0.1:9"

FAKE_BOOTSTRAP = r'''#!{python}
"""Custom runtime: echoes events; {{"chain": n}} continues in an Event invoke of itself."""
import json, os, sys, time, urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = api if api.startswith("http") else "http://" + api
lam = None

while True:
    with urllib.request.urlopen(base + "/2018-06-01/runtime/invocation/next", timeout=None) as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        arn = r.headers["Lambda-Runtime-Invoked-Function-Arn"]
        event = json.loads(r.read() or b"null")
    print(json.dumps({{"msg": "event", "request_id": rid, "event": event}}), flush=True)
    ev = event if isinstance(event, dict) else {{}}
    out = {{"echo": event, "request_id": rid, "arn": arn, "pid": os.getpid(),
           "env": {{k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA")}}}}
    if ev.get("sleep_ms"):
        time.sleep(ev["sleep_ms"] / 1000)
    if "chain" in ev or ev.get("endpoints"):
        import boto3  # the SDK's own endpoint resolution, from the environment only
        lam = lam or boto3.client("lambda")
        out["endpoints"] = {{"lambda": lam.meta.endpoint_url,
                            "sts": boto3.client("sts").meta.endpoint_url}}
    if ev.get("chain"):
        nxt = {{"chain": ev["chain"] - 1, "trail": ev.get("trail", []) + [rid]}}
        resp = lam.invoke(FunctionName=arn, InvocationType="Event", Payload=json.dumps(nxt))
        out["handed_over"] = resp["StatusCode"]
    if ev.get("fail"):
        kind, body = "error", {{"errorType": "HandlerError", "errorMessage": "asked to fail"}}
    else:
        kind, body = "response", out
    req = urllib.request.Request(
        base + "/2018-06-01/runtime/invocation/" + rid + "/" + kind,
        data=json.dumps(body).encode(), method="POST",
        headers={{"Content-Type": "application/json"}})
    urllib.request.urlopen(req, timeout=10).read()
'''


@pytest.fixture(scope="module")
def fake_bootstrap(tmp_path_factory):
    return python_bootstrap(tmp_path_factory, "relay-fn", FAKE_BOOTSTRAP)


@pytest.fixture(scope="module")
def relay_fn(cargo_lambda, fake_bootstrap):
    with LambdaHarness(fake_bootstrap, FN, env=fake_aws_env(OTHER_SERVICES, region=REGION),
                       timeout_s=10, cargo_lambda=cargo_lambda, async_relay=True) as h:
        yield h


@pytest.fixture
def fn(relay_fn):
    """The shared function, with no asynchronous invocation left over from another test."""
    relay_fn.drain_async(timeout=30)
    yield relay_fn
    relay_fn.drain_async(timeout=30)


def lam(harness):
    return boto3.client("lambda", endpoint_url=harness.relay_url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=NO_RETRIES)


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        call()
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def raw(harness, method, path, body=b"", headers=None):
    """One plain HTTP request to the relay: (status, headers {lowercase: value}, body)."""
    port = int(harness.relay_url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_event_invoke_is_202_at_once_and_delivered(fn):
    n, client = len(fn.relay_calls()), lam(fn)
    t0 = time.monotonic()
    resp = client.invoke(FunctionName=FN, InvocationType="Event",
                          Payload=json.dumps({"sleep_ms": 300, "hello": "async"}))
    assert time.monotonic() - t0 < 0.25  # did not wait for the 300 ms function
    assert resp["StatusCode"] == 202 and resp["Payload"].read() == b""
    assert "FunctionError" not in resp
    done = fn.drain_async(timeout=30)
    assert len(done) == 1 and done[0].ok
    assert done[0].payload["echo"] == {"sleep_ms": 300, "hello": "async"}
    assert done[0].payload["arn"] == FN_ARN
    calls = fn.relay_calls()[n:]
    assert len(calls) == 1
    c = calls[0]
    assert (c.function_name, c.invocation_type, c.status, c.target) == (FN, "Event", 202, FN)
    assert c.payload == {"sleep_ms": 300, "hello": "async"} and c.error_type is None
    assert c.done and c.invocation is done[0] and abs(c.time - time.time()) < 30
    assert fn.drain_async(timeout=1) == []  # each invocation is returned once


@pytest.mark.parametrize("name,qualifier", [
    (FN, None),
    (FN_ARN, None),
    (f"{FN_ARN}:$LATEST", None),
    (f"{FN}:$LATEST", None),
    (f"{ACCOUNT}:function:{FN}", None),
    (FN_ARN, "$LATEST"),
])
def test_name_arn_and_qualified_forms_all_reach_the_function(fn, name, qualifier):
    n = len(fn.relay_calls())
    kw = {"Qualifier": qualifier} if qualifier else {}
    resp = lam(fn).invoke(FunctionName=name, InvocationType="Event",
                          Payload=json.dumps({"form": name}), **kw)
    assert resp["StatusCode"] == 202
    [inv] = fn.drain_async(timeout=30)
    assert inv.payload["echo"] == {"form": name}
    [c] = fn.relay_calls()[n:]
    assert c.function_name == name and c.target == FN  # recorded as sent, URL-decoded
    assert c.qualifier == ("$LATEST" if ":$LATEST" in name or qualifier else None)


@pytest.mark.parametrize("name,kw,arn", [
    ("nope", {}, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"),
    (f"arn:aws:lambda:{REGION}:111111111111:function:{FN}", {},
     f"arn:aws:lambda:{REGION}:111111111111:function:{FN}"),
    (f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{FN}", {},
     f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{FN}"),
    (f"{FN}:7", {}, f"{FN_ARN}:7"),
    (FN, {"Qualifier": "live"}, f"{FN_ARN}:live"),
])
def test_unknown_function_is_404_resource_not_found(fn, name, kw, arn):
    n, served = len(fn.relay_calls()), len(fn.invocations)
    for itype in ("Event", "RequestResponse"):
        code, status, message = error_of(
            lambda: lam(fn).invoke(FunctionName=name, InvocationType=itype, Payload=b"{}", **kw))
        assert (code, status, message) == ("ResourceNotFoundException", 404,
                                           f"Function not found: {arn}")
    calls = fn.relay_calls()[n:]
    assert [(c.status, c.error_type, c.target) for c in calls] == \
        [(404, "ResourceNotFoundException", None)] * 2
    assert fn.drain_async(timeout=5) == [] and len(fn.invocations) == served


def test_error_wire_format_is_lambdas_rest_json(fn):
    status, headers, body = raw(fn, "POST", "/2015-03-31/functions/nope/invocations", b"{}",
                                {"X-Amz-Invocation-Type": "Event"})
    assert status == 404
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert headers["content-type"] == "application/json" and headers["x-amzn-requestid"]
    assert json.loads(body) == {
        "Type": "User",
        "message": f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"}
    # an ARN in the path is URL-encoded by SDKs; the relay decodes it
    path = "/2015-03-31/functions/" + FN_ARN.replace(":", "%3A") + "/invocations"
    status, headers, body = raw(fn, "POST", path, b'{"enc": 1}',
                                {"X-Amz-Invocation-Type": "Event"})
    assert (status, body, headers["content-length"]) == (202, b"", "0")
    assert fn.drain_async(timeout=30)[0].payload["echo"] == {"enc": 1}


def test_other_paths_methods_and_bad_requests(fn):
    n = len(fn.relay_calls())
    for method, path in [("GET", "/"), ("POST", f"/2015-03-31/functions/{FN}/configuration"),
                         ("GET", f"/2015-03-31/functions/{FN}/invocations"),
                         ("POST", f"/2014-11-13/functions/{FN}/invoke-async/")]:
        status, headers, _ = raw(fn, method, path)
        assert status == 404 and headers["x-amzn-errortype"] == "UnknownOperationException", path
    assert fn.relay_calls()[n:] == []  # only Invoke requests are recorded
    ep = f"/2015-03-31/functions/{FN}/invocations"
    status, headers, body = raw(fn, "POST", ep, b"not json", {"X-Amz-Invocation-Type": "Event"})
    assert status == 400 and headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert json.loads(body)["message"].startswith("Could not parse request body into json")
    status, headers, _ = raw(fn, "POST", ep, b"{}", {"X-Amz-Invocation-Type": "Later"})
    assert status == 400 and headers["x-amzn-errortype"] == "ValidationException"
    code, status, _ = error_of(lambda: lam(fn).invoke(
        FunctionName=f"{FN}:$LATEST", Qualifier="live", Payload=b"{}"))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert [c.status for c in fn.relay_calls()[n:]] == [400, 400, 400]
    assert fn.drain_async(timeout=5) == []


def test_request_response_is_delivered_synchronously(fn):
    client = lam(fn)
    resp = client.invoke(FunctionName=FN_ARN, Payload=json.dumps({"sync": 1}), LogType="Tail")
    assert resp["StatusCode"] == 200 and resp["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in resp
    out = json.loads(resp["Payload"].read())
    assert out["echo"] == {"sync": 1}
    assert out["request_id"] in base64.b64decode(resp["LogResult"]).decode()
    resp = client.invoke(FunctionName=FN, InvocationType="RequestResponse",
                         Payload=json.dumps({"fail": True}))
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read()) == {"errorType": "HandlerError",
                                                  "errorMessage": "asked to fail"}
    resp = client.invoke(FunctionName=FN, InvocationType="DryRun")
    assert resp["StatusCode"] == 204
    calls = fn.relay_calls()[-3:]
    assert [(c.invocation_type, c.status) for c in calls] == \
        [("RequestResponse", 200), ("RequestResponse", 200), ("DryRun", 204)]
    assert calls[0].invocation.payload == out and calls[1].invocation.error
    assert calls[2].invocation is None and fn.drain_async(timeout=5) == []


def test_function_env_points_only_lambda_at_the_relay(fn, fake_bootstrap):
    assert fn.function_env()["AWS_ENDPOINT_URL_LAMBDA"] == fn.relay_url
    assert fn.relay_url.startswith("http://127.0.0.1:")
    out = fn.invoke({"endpoints": True})
    assert out["env"] == {"AWS_ENDPOINT_URL": OTHER_SERVICES,
                          "AWS_ENDPOINT_URL_LAMBDA": fn.relay_url}
    # the SDK in the function resolves Lambda to the relay, everything else as before
    assert out["endpoints"] == {"lambda": fn.relay_url, "sts": OTHER_SERVICES}
    # off by default: no relay, no variable, even when the caller's env has one
    plain = LambdaHarness(fake_bootstrap, "plain-fn", env=fake_aws_env(OTHER_SERVICES))
    assert plain.relay is None and plain.relay_url is None and plain.relay_calls() == []
    assert "AWS_ENDPOINT_URL_LAMBDA" not in plain.function_env()


def test_continuation_chain_runs_to_its_end(fn):
    """A function that continues in an Event invoke of its own ARN, three times over."""
    n = len(fn.relay_calls())
    first = fn.invoke_detailed({"chain": 3})
    assert first.ok and first.payload["handed_over"] == 202
    rest = fn.drain_async(timeout=60)
    assert [i.payload["echo"]["chain"] for i in rest] == [2, 1, 0]
    assert rest[-1].payload["echo"]["trail"] == [first.request_id] + [
        i.request_id for i in rest[:-1]]
    assert all(i.ok and not i.cold for i in rest)
    calls = fn.relay_calls()[n:]
    assert [(c.function_name, c.invocation_type, c.status) for c in calls] == \
        [(FN_ARN, "Event", 202)] * 3
    assert [c.payload["chain"] for c in calls] == [2, 1, 0]
    assert calls[0].time <= calls[1].time <= calls[2].time
    assert [c.invocation for c in calls] == rest


def test_kill_after_a_hand_over_sigkills_the_caller_before_its_202(fn):
    """The relay's crash hook: the 2nd Event invoke is accepted (its invocation runs), and the
    function that sent it dies before it hears 202, as a crash right after a hand-over."""
    n = len(fn.relay_calls())
    crash = fn.relay.kill_after(2, lambda: fn.pid)
    try:
        first = fn.invoke_detailed({"chain": 3})
        rest = fn.drain_async(timeout=60)
    finally:
        fn.relay.disarm()
    state = crash.as_dict()
    assert state["seen"] == 2 and state["fired"]["action"] == "Invoke"
    assert state["fired"]["pid"] == first.payload["pid"] and state["fired"]["dead"] is True
    assert first.ok and first.payload["handed_over"] == 202
    assert [i.event["chain"] for i in rest] == [2, 1, 0]
    assert rest[0].error["errorType"] == "Runtime.ExitError", "it died handing over chain 1"
    assert rest[1].ok and rest[1].cold and rest[1].payload["pid"] != first.payload["pid"]
    assert rest[2].ok and "handed_over" not in rest[2].payload
    calls = fn.relay_calls()[n:]
    assert [(c.payload["chain"], c.status) for c in calls] == [(2, 202), (1, 0), (0, 202)]
    assert fn.relay.kill_state() is None


def test_drain_async_times_out_while_a_chain_runs(fn):
    fn.invoke_async({"sleep_ms": 1500})
    with pytest.raises(TimeoutError, match="still running"):
        fn.drain_async(timeout=0.3)
    [inv] = fn.drain_async(timeout=30)
    assert inv.payload["echo"] == {"sleep_ms": 1500}


def test_relay_stops_with_the_harness_and_keeps_its_calls(cargo_lambda, fake_bootstrap):
    h = LambdaHarness(fake_bootstrap, "short-fn", env=fake_aws_env(OTHER_SERVICES),
                      timeout_s=5, cargo_lambda=cargo_lambda, async_relay=True)
    with h:
        url = h.relay_url
        port = int(url.rsplit(":", 1)[1])
        assert port_open("127.0.0.1", port) and port != h.port
        assert lam(h).invoke(FunctionName="short-fn", InvocationType="Event",
                             Payload=b'{"x": 1}')["StatusCode"] == 202
        assert h.drain_async(timeout=30)[0].payload["echo"] == {"x": 1}
    assert h.relay_url is None and not port_open("127.0.0.1", port)
    assert [c.payload for c in h.relay_calls()] == [{"x": 1}]
    assert "AWS_ENDPOINT_URL_LAMBDA" not in h.function_env()


def test_one_relay_for_two_functions(cargo_lambda, fake_bootstrap):
    with LambdaHarness(fake_bootstrap, "fn-a", env=fake_aws_env(OTHER_SERVICES),
                       cargo_lambda=cargo_lambda) as a, \
         LambdaHarness(fake_bootstrap, "fn-b", env=fake_aws_env(OTHER_SERVICES),
                       cargo_lambda=cargo_lambda) as b, \
         AsyncInvokeRelay([a]).add(b) as relay:
        client = boto3.client("lambda", endpoint_url=relay.url, region_name=REGION,
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              config=NO_RETRIES)
        for name in ("fn-a", "fn-b"):
            client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"to": 1}')
        assert [i.payload["arn"] for i in a.drain_async(30) + b.drain_async(30)] == [
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-a",
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn-b"]
        assert [c.target for c in relay.calls()] == ["fn-a", "fn-b"]


# --------------------------------------------------- a real Rust binary


def test_real_binary_gets_the_relay_endpoint(cargo_lambda):
    path = os.environ.get("AUTOWIRE_TEST_BOOTSTRAP")
    if not path:
        skip_or_fail("AUTOWIRE_TEST_BOOTSTRAP (a lambda_runtime bootstrap binary) is not set")
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"AUTOWIRE_TEST_BOOTSTRAP={path} is not an executable file")
    env = dict(fake_aws_env(OTHER_SERVICES, region=REGION), RUST_LOG="info")
    with LambdaHarness(path, "real-relay-fn", env=env, timeout_s=5, cargo_lambda=cargo_lambda,
                       async_relay=True, prestart=True) as h:
        environ = Path(f"/proc/{h.pid}/environ")
        if not environ.exists():
            pytest.skip("no /proc: cannot read the process environment")
        got = dict(kv.split("=", 1) for kv in environ.read_bytes().decode().split("\0") if "=" in kv)
        assert got["AWS_ENDPOINT_URL_LAMBDA"] == h.relay_url
        assert got["AWS_ENDPOINT_URL"] == OTHER_SERVICES
        inv = h.invoke_detailed({"harness": "relay-probe"})  # not a CloudFormation request
        assert inv.status in (200, 500)
        assert h.drain_async(timeout=10) == [] and h.relay_calls() == []
