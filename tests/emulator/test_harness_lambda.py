"""The Lambda harness (lambda_harness.py): a bootstrap under `cargo lambda watch`.

Two kinds of function are used:

* a tiny custom-runtime ``bootstrap`` written in Python (generated below): it
  speaks the same Runtime API a ``lambda_runtime`` binary does, so every
  harness feature is tested here with no compile step;
* a real Rust ``lambda_runtime`` binary named by ``AUTOWIRE_TEST_BOOTSTRAP``
  (skipped when unset, except in CI where that is an error).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from testbed_fixtures import python_bootstrap  # noqa: E402
from lambda_harness import HarnessError, LambdaHarness  # noqa: E402
from testbed_util import skip_or_fail  # noqa: E402

FAKE_BOOTSTRAP = r'''#!{python}
"""Minimal custom runtime: echoes events, logs JSON, can sleep/fail/crash."""
import json, os, sys, time, urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
base = api if api.startswith("http") else "http://" + api
print(json.dumps({{"level": "INFO", "msg": "init", "pid": os.getpid()}}), flush=True)

while True:
    with urllib.request.urlopen(base + "/2018-06-01/runtime/invocation/next", timeout=None) as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline = int(r.headers["Lambda-Runtime-Deadline-Ms"])
        arn = r.headers["Lambda-Runtime-Invoked-Function-Arn"]
        event = json.loads(r.read() or b"null")
    print(json.dumps({{"level": "INFO", "msg": "event", "request_id": rid, "event": event}}), flush=True)
    print("plain stderr line for " + rid, file=sys.stderr, flush=True)
    ev = event if isinstance(event, dict) else {{}}
    if ev.get("sleep_ms"):
        time.sleep(ev["sleep_ms"] / 1000)
    if ev.get("exit"):
        os._exit(3)
    if ev.get("fail"):
        kind, body = "error", {{"errorType": "HandlerError", "errorMessage": "asked to fail"}}
    else:
        kind, body = "response", {{
            "echo": event,
            "request_id": rid,
            "deadline_ms": deadline,
            "remaining_ms": deadline - int(time.time() * 1000),
            "arn": arn,
            "pid": os.getpid(),
            "env": {{k: os.environ.get(k) for k in (
                "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
                "AWS_ENDPOINT_URL", "PROBE", "AWS_EC2_METADATA_DISABLED", "HOME")}},
        }}
    req = urllib.request.Request(
        base + "/2018-06-01/runtime/invocation/" + rid + "/" + kind,
        data=json.dumps(body).encode(), method="POST",
        headers={{"Content-Type": "application/json"}})
    urllib.request.urlopen(req, timeout=10).read()
'''


@pytest.fixture(scope="module")
def fake_bootstrap(tmp_path_factory):
    return python_bootstrap(tmp_path_factory, "fake-fn", FAKE_BOOTSTRAP)


@pytest.fixture(scope="module")
def echo_fn(cargo_lambda, fake_bootstrap):
    env = {"PROBE": "from-caller", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
           "AWS_REGION": "eu-west-1"}
    with LambdaHarness(fake_bootstrap, "echo-fn", env=env, timeout_s=3,
                       memory_mb=256, cargo_lambda=cargo_lambda) as h:
        yield h


def test_invoke_roundtrip_env_and_deadline(echo_fn):
    before_ms = int(time.time() * 1000)
    inv = echo_fn.invoke_detailed({"hello": "world", "n": [1, 2]})
    assert inv.status == 200 and inv.ok and inv.function_error is None
    out = inv.payload
    assert out["echo"] == {"hello": "world", "n": [1, 2]}
    assert out["request_id"] == inv.request_id and inv.request_id
    # the harness replaces cargo-lambda's fixed 1970 deadline by now + timeout
    assert before_ms + 2500 <= out["deadline_ms"] <= int(time.time() * 1000) + 3000
    assert out["deadline_ms"] == inv.deadline_ms
    assert 2000 < out["remaining_ms"] <= 3000
    assert 2000 < inv.margin_ms <= 3000  # answered well before the deadline
    assert out["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:echo-fn"
    assert out["env"] == {
        "AWS_LAMBDA_FUNCTION_NAME": "echo-fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "PROBE": "from-caller",
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": None,  # clean environment: nothing inherited
    }
    assert echo_fn.invoke({"second": True})["echo"] == {"second": True}


def test_function_error_is_returned_as_error_dict(echo_fn):
    out = echo_fn.invoke({"fail": True})
    assert out == {"errorType": "HandlerError", "errorMessage": "asked to fail"}
    inv = echo_fn.invocations[-1]
    assert inv.status == 500 and inv.function_error == "Unhandled" and not inv.timed_out


def test_stdout_and_stderr_are_captured(echo_fn):
    inv = echo_fn.invoke_detailed({"log": "me"})
    events = [j for j in echo_fn.json_logs("stdout") if j.get("msg") == "event"]
    assert events[-1] == {"level": "INFO", "msg": "event", "request_id": inv.request_id,
                          "event": {"log": "me"}}
    assert f"plain stderr line for {inv.request_id}" in echo_fn.stderr_lines()
    assert any(l.json and l.json.get("request_id") == inv.request_id for l in inv.logs)
    assert echo_fn.json_logs()[0]["msg"] == "init"


def test_cold_start_is_measured(echo_fn):
    if not echo_fn.invocations:
        echo_fn.invoke({})
    assert echo_fn.invocations[0].cold
    assert 0 < echo_fn.init_duration_s <= echo_fn.cold_start_s < 30
    assert not any(i.cold for i in echo_fn.invocations[1:] if not i.timed_out)


def test_invoke_async_returns_at_once(echo_fn):
    t0 = time.monotonic()
    fut = echo_fn.invoke_async({"sleep_ms": 400, "async": 1})
    assert time.monotonic() - t0 < 0.2 and not fut.done()
    inv = fut.result(timeout=10)
    assert inv.payload["echo"] == {"sleep_ms": 400, "async": 1}


def test_deadline_timeout_kills_and_next_invoke_cold_starts(cargo_lambda, fake_bootstrap):
    with LambdaHarness(fake_bootstrap, "slow-fn", timeout_s=1,
                       cargo_lambda=cargo_lambda) as h:
        first = h.invoke_detailed({"quick": 1})
        pid = first.payload["pid"]
        t0 = time.monotonic()
        inv = h.invoke_detailed({"sleep_ms": 5000})
        took = time.monotonic() - t0
        assert inv.timed_out and inv.status == 500
        assert inv.error["errorType"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in inv.error["errorMessage"]
        assert 0.9 <= took < 3
        assert inv.margin_ms is None  # never answered
        after = h.invoke_detailed({"again": 1})
        assert after.ok and after.cold and after.payload["pid"] != pid
        assert len(h.cold_starts) == 2


def test_crashed_process_is_restarted(cargo_lambda, fake_bootstrap):
    with LambdaHarness(fake_bootstrap, "crashy", timeout_s=2,
                       cargo_lambda=cargo_lambda) as h:
        pid = h.invoke({})["pid"]
        h.restart()
        assert h.invoke({})["pid"] != pid


def test_process_exit_during_invoke_is_runtime_exit_error(cargo_lambda, fake_bootstrap):
    with LambdaHarness(fake_bootstrap, "exits", timeout_s=10,
                       cargo_lambda=cargo_lambda) as h:
        t0 = time.monotonic()
        inv = h.invoke_detailed({"exit": True})
        assert time.monotonic() - t0 < 5  # not the 10 s timeout
        assert inv.error["errorType"] == "Runtime.ExitError"
        assert "exit status 3" in inv.error["errorMessage"]
        assert h.invoke_detailed({"after": 1}).cold


def test_unknown_binary_is_a_harness_error(tmp_path, cargo_lambda):
    with pytest.raises(HarnessError):
        LambdaHarness(tmp_path / "nope", "x", cargo_lambda=cargo_lambda).start()
    with pytest.raises(ValueError):
        LambdaHarness(tmp_path / "nope", "_")


def test_emulator_timeout_flag(cargo_lambda, fake_bootstrap):
    """`cargo lambda watch --timeout N` makes the Invoke API give up after N s."""
    with LambdaHarness(fake_bootstrap, "t-fn", timeout_s=10, enforce_timeout=False,
                       invoke_timeout_s=1, cargo_lambda=cargo_lambda) as h:
        with pytest.raises(HarnessError, match="HTTP 408"):
            h.invoke_detailed({"sleep_ms": 2500})


# --------------------------------------------------- a real Rust binary


@pytest.fixture(scope="module")
def real_bootstrap():
    path = os.environ.get("AUTOWIRE_TEST_BOOTSTRAP")
    if not path:
        skip_or_fail("AUTOWIRE_TEST_BOOTSTRAP (a lambda_runtime bootstrap binary) is not set")
    p = Path(path)
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise FileNotFoundError(f"AUTOWIRE_TEST_BOOTSTRAP={path} is not an executable file")
    return p


def test_real_lambda_runtime_binary(real_bootstrap, cargo_lambda):
    event = {"harness": "probe", "n": 1}
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "RUST_LOG": "info"}
    with LambdaHarness(real_bootstrap, "real-fn", env=env, timeout_s=5,
                       cargo_lambda=cargo_lambda) as h:
        inv = h.invoke_detailed(event)
        # Any lambda_runtime binary answers: a payload, or an error dict.
        assert inv.status in (200, 500), inv
        assert isinstance(inv.result, (dict, list, str, int, float, bool, type(None)))
        if inv.error is not None:
            assert "errorType" in inv.error and "errorMessage" in inv.error
        assert inv.request_id and inv.cold
        now_ms = int(time.time() * 1000)
        assert now_ms - 10_000 < inv.deadline_ms <= now_ms + 5_000
        assert h.cold_start_s is not None and 0 < h.cold_start_s < 30
        again = h.invoke_detailed(event)
        assert not again.cold and again.request_id != inv.request_id
        if isinstance(inv.payload, dict) and "echo" in inv.payload:  # the echo test lambda
            assert inv.payload["echo"] == event
            assert 0 < inv.payload["remaining_ms"] <= 5000
            assert any(j.get("msg") == "invoked" for j in h.json_logs("stdout"))
        print(f"\n{real_bootstrap}: cold start {h.cold_start_s * 1000:.1f} ms "
              f"(init {h.init_duration_s * 1000:.1f} ms), "
              f"warm invoke {again.duration_s * 1000:.1f} ms, "
              f"{len(h.logs())} log lines captured")
