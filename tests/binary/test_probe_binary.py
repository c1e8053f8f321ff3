"""The real `probe` binary under cargo-lambda's runtime emulator, against servers this module
starts on 127.0.0.1 (tests/binary/probe_servers.py) with certificates it makes (a test CA,
ECDSA P-256).

The probe makes no AWS calls. Every event passes `system_dns: false` and maps each name it uses
to 127.0.0.1 in `hosts`, so the probe never sends a DNS query; an unmapped name is the
`dns_nxdomain` case. Each test asserts the exact stage and error class the contract gives:
dns_nxdomain, tcp_refused, tcp_timeout, tls_name_mismatch, tls_untrusted, tls_expired,
tls_handshake, tls_timeout, http_status, http_error, http_timeout, deadline.

The binary is AUTOWIRE_PROBE_BOOTSTRAP, else the workspace's debug build; a missing binary or
cargo-lambda skips locally and fails in CI.
"""

from __future__ import annotations

import datetime
import re
import time

import pytest

from binary_support import bootstrap
from lambda_harness import LambdaHarness
from probe_servers import BlackHole, TcpServer, TestPki, TlsServer, closed_port
from testbed_util import find_tool, skip_or_fail

ORDERS = "orders.link.example.com"
API = "api.orders.link.example.com"  # covered by the good certificate's wildcard
ALIAS = "team-a.example.net"  # covered by no certificate here
OTHER = "other.link.example.com"
UNMAPPED = "nowhere.link.example.com"  # deliberately not in HOSTS
HOSTS = {n: "127.0.0.1" for n in (ORDERS, API, ALIAS, OTHER, "a.link.example.com",
                                  "b.link.example.com")}

STAGES = ["dns", "tcp", "tls", "http"]
CLASSES = {"dns_nxdomain", "dns_error", "tcp_refused", "tcp_timeout", "tcp_error",
           "tls_name_mismatch", "tls_untrusted", "tls_expired", "tls_handshake", "tls_timeout",
           "http_status", "http_body", "http_error", "http_timeout", "deadline"}
VALID_DAYS = 30
TIMEOUT_MS = 3000  # for targets that answer: generous, they take milliseconds
SHORT_MS = 600  # for targets that never answer
NOT_AFTER_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# ---------------------------------------------------------------------------------- fixtures


def probe_path() -> str:
    if find_tool("cargo-lambda") is None:
        skip_or_fail("cargo-lambda not installed (run `make venv`)")
    return bootstrap("probe")


@pytest.fixture(scope="module")
def probe():
    with LambdaHarness(probe_path(), "probe", timeout_s=30) as fn:
        yield fn


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPki(tmp_path_factory.mktemp("probe-pki"))


@pytest.fixture(scope="module")
def certs(pki):
    return {
        "good": pki.leaf([ORDERS, "*." + ORDERS], valid_days=VALID_DAYS),
        "orders_only": pki.leaf([ORDERS], valid_days=VALID_DAYS),
        "wrong": pki.leaf([OTHER]),
        "expired": pki.leaf([ORDERS], expired=True, label="expired"),
        "untrusted": pki.leaf([ORDERS], untrusted=True, label="untrusted"),
    }


@pytest.fixture
def server():
    """`server(issued=None, mode="hold", status=200)` -> a started TlsServer, stopped after."""
    started = []

    def make(issued=None, mode="hold", status=200):
        s = TlsServer(issued, mode=mode, status=status).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


# ----------------------------------------------------------------------------------- helpers


def event(targets, timeout_ms=TIMEOUT_MS, hosts=None, **extra):
    e = {"targets": targets, "timeout_ms": timeout_ms,
         "hosts": HOSTS if hosts is None else hosts, "system_dns": False}
    e.update(extra)
    return e


def tls(pki, server_name=None, expect_names=None, ca=True):
    t = {}
    if ca:
        t["ca_bundle_pem"] = pki.ca_pem
    if server_name is not None:
        t["server_name"] = server_name
    if expect_names is not None:
        t["expect_names"] = expect_names
    return t


def stages_of(target: dict) -> list[str]:
    """The stages a target asks for, in order."""
    return ["dns", "tcp"] + (["tls"] if target.get("tls") is not None else []) + (
        ["http"] if target.get("http") is not None else [])


def check_report(report, targets) -> None:
    """The report's shape: what every answer must satisfy whatever the outcome."""
    assert isinstance(report, dict), report
    assert isinstance(report["elapsed_ms"], (int, float)) and report["elapsed_ms"] >= 0, report
    got = report["targets"]
    assert len(got) == len(targets), report
    n_ok = sum(1 for t in got if t["ok"])
    assert report["summary"] == {"total": len(targets), "ok": n_ok,
                                 "failed": len(targets) - n_ok}, report
    assert report["ok"] is (n_ok == len(targets)), report
    for asked, t in zip(targets, got):
        assert t["host"] == asked["host"] and t["port"] == asked["port"], (asked, t)
        for k in ("name", "service_key", "az_id"):
            assert t.get(k) == asked.get(k), (k, asked, t)
        assert t["ok"] in (True, False), t
        assert t["stage"] in stages_of(asked), (asked, t)
        lat = t.get("latency_ms") or {}
        assert set(lat) <= set(stages_of(asked)), t
        assert all(isinstance(v, (int, float)) and v >= 0 for v in lat.values()), t
        if t["ok"]:
            assert t["stage"] == stages_of(asked)[-1], (asked, t)
            assert t.get("error") is None, t
        else:
            err = t["error"]
            assert err["class"] in CLASSES, t
            assert isinstance(err["message"], str) and err["message"].strip(), t


def run(fn, targets, **kw):
    """Invoke the probe with `targets`; returns (report, invocation)."""
    inv = fn.invoke_detailed(event(targets, **kw))
    assert inv.ok and not inv.timed_out, (
        f"invocation failed: {inv.error}\n" + "\n".join(l.line for l in inv.logs[-20:]))
    check_report(inv.payload, targets)
    return inv.payload, inv


def one(fn, target, **kw) -> dict:
    report, _ = run(fn, [target], **kw)
    return report["targets"][0]


def failed(t: dict, stage: str, cls: str) -> dict:
    """Assert the target failed at `stage` with error class `cls`; returns its error."""
    assert (t["ok"], t["stage"], (t.get("error") or {}).get("class")) == (False, stage, cls), t
    return t["error"]


def succeeded(t: dict, stage: str) -> None:
    assert (t["ok"], t["stage"], t.get("error")) == (True, stage, None), t
    assert t["addresses"] == ["127.0.0.1"], t


def wait_until(cond, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def emf_lines(inv) -> list[dict]:
    """The CloudWatch EMF documents the function printed on stdout during `inv`."""
    out = []
    for line in inv.logs:
        j = line.json
        if line.stream == "stdout" and isinstance(j, dict) and "_aws" in j:
            out.append(j)
    return out


# ------------------------------------------------------------------------------------- TCP


def test_plain_tcp_listener_is_ok_at_tcp(probe):
    with TcpServer() as srv:
        t = one(probe, {"host": ORDERS, "port": srv.port})
        assert wait_until(lambda: srv.accepted >= 1)
    succeeded(t, "tcp")
    assert t.get("tls") is None and t.get("http") is None, t
    assert {"tcp"} <= set(t["latency_ms"]) <= {"dns", "tcp"}, t


def test_closed_port_is_tcp_refused(probe):
    err = failed(one(probe, {"host": ORDERS, "port": closed_port()}), "tcp", "tcp_refused")
    assert err["message"]


def test_connect_that_hangs_is_tcp_timeout(probe):
    with BlackHole() as hole:
        started = time.monotonic()
        t = one(probe, {"host": ORDERS, "port": hole.port}, timeout_ms=SHORT_MS)
        took = time.monotonic() - started
    failed(t, "tcp", "tcp_timeout")
    assert took < SHORT_MS / 1000 + 3, f"answered after {took:.2f} s"
    if "tcp" in t.get("latency_ms", {}):
        assert t["latency_ms"]["tcp"] >= SHORT_MS * 0.8, t


def test_unmapped_name_is_dns_nxdomain_without_a_lookup(probe):
    t = one(probe, {"host": UNMAPPED, "port": 443})
    err = failed(t, "dns", "dns_nxdomain")
    assert UNMAPPED in err["message"], err
    assert not t.get("addresses"), t


# ------------------------------------------------------------------------------------- TLS


def test_tls_right_name_is_ok_with_names_and_expiry(probe, pki, certs, server):
    srv = server(certs["good"])
    t = one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki)})
    succeeded(t, "tls")
    assert srv.sni == [ORDERS], "server_name defaults to the host"
    info = t["tls"]
    assert sorted(info["names"]) == sorted([ORDERS, "*." + ORDERS]), info
    assert info["days_to_expiry"] in (VALID_DAYS - 1, VALID_DAYS), info
    assert NOT_AFTER_RE.match(info["not_after"]), info
    not_after = datetime.datetime.fromisoformat(info["not_after"].replace("Z", "+00:00"))
    assert not_after == certs["good"].not_after, info
    assert {"tcp", "tls"} <= set(t["latency_ms"]), t
    assert t.get("http") is None, t
    assert wait_until(lambda: srv.handshakes == ["ok"]), srv.handshakes


def test_tls_expect_names_covered_by_a_wildcard_is_ok(probe, pki, certs, server):
    srv = server(certs["good"])
    t = one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki, expect_names=[API])})
    succeeded(t, "tls")


def test_tls_server_name_other_than_the_host(probe, pki, certs, server):
    """A literal address as host (not resolved), the certificate's name as server_name."""
    srv = server(certs["good"])
    t = one(probe, {"host": "127.0.0.1", "port": srv.port, "tls": tls(pki, server_name=ORDERS)},
            hosts={})
    succeeded(t, "tls")
    assert srv.sni == [ORDERS]


def test_tls_wrong_name_is_name_mismatch(probe, pki, certs, server):
    srv = server(certs["wrong"])
    err = failed(one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki)}),
                 "tls", "tls_name_mismatch")
    assert ORDERS in err["message"], err


def test_tls_alias_not_covered_is_name_mismatch_naming_both(probe, pki, certs, server):
    srv = server(certs["orders_only"])
    t = one(probe, {"host": ORDERS, "port": srv.port,
                    "tls": tls(pki, expect_names=[ALIAS])})
    err = failed(t, "tls", "tls_name_mismatch")
    assert ORDERS in err["message"] and ALIAS in err["message"], err
    assert t["tls"]["names"] == [ORDERS], t


def test_tls_expired_certificate(probe, pki, certs, server):
    srv = server(certs["expired"])
    failed(one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki)}), "tls", "tls_expired")


def test_tls_issuer_not_in_the_bundle_is_untrusted(probe, pki, certs, server):
    srv = server(certs["untrusted"])
    failed(one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki)}),
           "tls", "tls_untrusted")


def test_tls_test_ca_without_a_bundle_is_untrusted_by_system_roots(probe, pki, certs, server):
    srv = server(certs["good"])
    failed(one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki, ca=False)}),
           "tls", "tls_untrusted")


def test_tls_to_a_server_that_is_not_tls_is_handshake_error(probe, pki, server):
    srv = server(None, mode="garbage")
    failed(one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki)}),
           "tls", "tls_handshake")


def test_tls_to_a_silent_server_is_tls_timeout(probe, pki):
    with TcpServer() as srv:
        t = one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki)}, timeout_ms=SHORT_MS)
    failed(t, "tls", "tls_timeout")


# ------------------------------------------------------------------------------------ HTTP


def test_http_over_tls_200_is_ok_at_http(probe, pki, certs, server):
    srv = server(certs["good"], mode="http", status=200)
    t = one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki),
                    "http": {"path": "/health", "expect_status": 200}})
    succeeded(t, "http")
    assert t["http"]["status"] == 200, t
    assert t["http"]["body_bytes"] == len(b"ok\n"), "the whole body was read"
    assert {"tcp", "tls", "http"} <= set(t["latency_ms"]), t
    assert t["tls"]["names"], t
    assert len(srv.requests) == 1, srv.requests
    req = srv.requests[0]
    assert (req["method"], req["path"]) == ("GET", "/health"), req
    assert req["headers"].get("host", "").split(":")[0] == ORDERS, req


def test_http_over_tls_503_is_http_status(probe, pki, certs, server):
    srv = server(certs["good"], mode="http", status=503)
    t = one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki),
                    "http": {"path": "/health", "expect_status": 200}})
    err = failed(t, "http", "http_status")
    assert t["http"]["status"] == 503, t
    assert "503" in err["message"], err


def test_http_without_tls_runs_over_plain_tcp(probe, server):
    srv = server(None, mode="http", status=200)
    t = one(probe, {"host": ORDERS, "port": srv.port,
                    "http": {"path": "/health", "expect_status": 200}})
    succeeded(t, "http")
    assert t["http"]["status"] == 200 and t.get("tls") is None, t
    assert "tls" not in t["latency_ms"], t
    assert [r["path"] for r in srv.requests] == ["/health"]


def test_http_no_answer_is_http_timeout(probe, pki, certs, server):
    srv = server(certs["good"], mode="http-silent")
    t = one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki),
                    "http": {"path": "/health", "expect_status": 200}}, timeout_ms=SHORT_MS)
    failed(t, "http", "http_timeout")


def test_http_connection_closed_without_answer_is_http_error(probe, pki, certs, server):
    srv = server(certs["good"], mode="http-close")
    t = one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki),
                    "http": {"path": "/health", "expect_status": 200}})
    failed(t, "http", "http_error")


def test_http_body_cut_before_its_length_is_http_error(probe, pki, certs, server):
    srv = server(certs["good"], mode="http-cut")
    t = one(probe, {"host": ORDERS, "port": srv.port, "tls": tls(pki),
                    "http": {"path": "/health", "expect_status": 200}})
    err = failed(t, "http", "http_error")
    assert "connection closed after 3 of 103 body bytes" in err["message"], err


def test_http_body_must_contain_what_is_expected(probe, server):
    srv = server(None, mode="http", status=200)
    target = {"host": ORDERS, "port": srv.port, "http": {"path": "/", "expect_body_contains": "ok"}}
    succeeded(one(probe, target), "http")
    target["http"]["expect_body_contains"] = "healthy"
    err = failed(one(probe, target), "http", "http_body")
    assert "healthy" in err["message"], err


def test_each_address_is_tried_and_the_report_names_the_one_that_answered(probe):
    # The server listens on 127.0.0.1 only: 127.0.0.2 refuses, then 127.0.0.1 answers.
    with TcpServer() as srv:
        t = one(probe, {"host": ORDERS, "port": srv.port},
                hosts={ORDERS: ["127.0.0.2", "127.0.0.1"]})
    assert (t["ok"], t["stage"]) == (True, "tcp"), t
    assert t["addresses"] == ["127.0.0.2", "127.0.0.1"], t
    assert t["address"] == "127.0.0.1", t


# ------------------------------------------------------------------------ several at once


def test_mixed_targets_summary_and_emf_metrics(probe, pki, certs, server):
    good = server(certs["good"])
    web = server(certs["good"], mode="http", status=200)
    wrong = server(certs["wrong"])
    with TcpServer() as plain:
        targets = [
            {"host": ORDERS, "port": plain.port, "name": "plain", "service_key": "svc-tcp",
             "az_id": "use1-az1"},
            {"host": ORDERS, "port": good.port, "name": "tls", "service_key": "svc-tls",
             "az_id": "use1-az4", "tls": tls(pki, expect_names=[API])},
            {"host": ORDERS, "port": web.port, "name": "web", "service_key": "svc-http",
             "az_id": "use1-az1", "tls": tls(pki),
             "http": {"path": "/health", "expect_status": 200}},
            {"host": ORDERS, "port": closed_port(), "name": "closed", "service_key": "svc-closed",
             "az_id": "use1-az4"},
            {"host": ORDERS, "port": wrong.port, "name": "wrong", "service_key": "svc-wrong",
             "az_id": "use1-az1", "tls": tls(pki)},
            {"host": UNMAPPED, "port": 443, "name": "nxdomain", "service_key": "svc-dns",
             "az_id": "use1-az4", "tls": tls(pki)},
        ]
        started_ms = time.time() * 1000
        report, inv = run(probe, targets, concurrency=4)
    assert report["ok"] is False
    assert report["summary"] == {"total": 6, "ok": 3, "failed": 3}
    got = {t["name"]: t for t in report["targets"]}
    assert [t["name"] for t in report["targets"]] == [t["name"] for t in targets], "input order"
    succeeded(got["plain"], "tcp")
    succeeded(got["tls"], "tls")
    succeeded(got["web"], "http")
    failed(got["closed"], "tcp", "tcp_refused")
    failed(got["wrong"], "tls", "tls_name_mismatch")
    failed(got["nxdomain"], "dns", "dns_nxdomain")

    # EMF: one line per stage each target ran, Success 1 for each passed stage, 0 for the failed
    docs = emf_lines(inv)
    assert docs, "no EMF lines on stdout:\n" + "\n".join(l.line for l in inv.logs[-20:])
    seen: dict[str, list[tuple[str, int]]] = {}
    for d in docs:
        meta = d["_aws"]
        assert isinstance(meta["Timestamp"], int), d
        assert started_ms - 60_000 <= meta["Timestamp"] <= time.time() * 1000 + 60_000, d
        assert len(meta["CloudWatchMetrics"]) == 1, d
        cwm = meta["CloudWatchMetrics"][0]
        assert cwm["Namespace"] == "PrivateLinkAutowire", d
        assert cwm["Dimensions"] == [["ServiceKey", "AzId", "Stage"], ["ServiceKey"]], d
        assert {m["Name"]: m["Unit"] for m in cwm["Metrics"]} == {
            "Latency": "Milliseconds", "Success": "Count"}, d
        assert d["Stage"] in STAGES and d["Success"] in (0, 1), d
        assert isinstance(d["Latency"], (int, float)) and d["Latency"] >= 0, d
        t = next((t for t in report["targets"] if t["service_key"] == d["ServiceKey"]), None)
        assert t is not None, f"EMF line for an unknown ServiceKey: {d}"
        assert d["AzId"] == t["az_id"], d
        lat = (t.get("latency_ms") or {}).get(d["Stage"])
        if lat is not None:
            assert abs(d["Latency"] - lat) <= 0.051 + lat * 0.01, (d, t)
        seen.setdefault(d["ServiceKey"], []).append((d["Stage"], d["Success"]))
    for asked in targets:
        t = got[asked["name"]]
        ran = stages_of(asked)[: stages_of(asked).index(t["stage"]) + 1]
        want = [(s, 1) for s in ran[:-1]] + [(ran[-1], 1 if t["ok"] else 0)]
        have = sorted(seen.get(asked["service_key"], []), key=lambda p: STAGES.index(p[0]))
        assert have == want, (asked["name"], have, want)


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad, mentions", [
    ({"targets": []}, "target"),
    ({}, "targets"),
    ({"targets": [{"host": ORDERS, "port": 0}]}, "port"),
    ({"targets": [{"host": ORDERS, "port": 65536}]}, None),
    ({"targets": [{"port": 443}]}, "host"),
    ({"targets": [{"host": ORDERS, "port": 443}], "timeout_ms": 0}, "timeout_ms"),
    ({"targets": [{"host": ORDERS, "port": 443}], "concurrency": 0}, "concurrency"),
    ("not an object", None),
], ids=["no-targets", "missing-targets", "port-0", "port-too-big", "no-host", "timeout-0",
     "concurrency-0", "not-an-object"])
def test_bad_input_is_an_error(probe, bad, mentions):
    if isinstance(bad, dict):
        bad = {"hosts": HOSTS, "system_dns": False, **bad}
    inv = probe.invoke_detailed(bad)
    assert not inv.ok and not inv.timed_out, inv.payload
    msg = inv.error.get("errorMessage", "")
    assert msg.strip(), inv.error
    if mentions:
        assert mentions in msg.lower(), inv.error


# -------------------------------------------------------------------------- Lambda deadline


def test_lambda_deadline_answers_before_the_timeout():
    """A target still connecting when the invocation's time runs out: the probe answers before
    Lambda's deadline, the target failed with `deadline`."""
    with LambdaHarness(probe_path(), "probe-deadline", timeout_s=3) as fn, BlackHole() as hole:
        inv = fn.invoke_detailed(event([{"host": ORDERS, "port": hole.port}], timeout_ms=60_000))
        assert inv.ok and not inv.timed_out, inv.error
        targets = [{"host": ORDERS, "port": hole.port}]
        check_report(inv.payload, targets)
        failed(inv.payload["targets"][0], "tcp", "deadline")
        assert inv.duration_s < 3, inv.duration_s
