#!/usr/bin/env python3
"""Benchmark of the real `probe` Lambda binary (what `make bench` runs).

    scripts/bench-probe.py [PROBE_BINARY] [--targets 1000] [--concurrency N] [--runs 1]

Starts a TLS server on 127.0.0.1 (worker processes sharing one listening socket, an ECDSA P-256
certificate for *.bench.link.example.com from a throw-away CA), runs the probe under
cargo-lambda's runtime emulator (tests/emulator/lambda_harness.py), invokes it once with one
target (cold start: process start to first response), then with --targets TCP+TLS targets, each
a distinct name mapped to 127.0.0.1 through `hosts` (`system_dns: false`: no DNS query is ever
sent), all to the server's port. Prints the wall time of that invoke and the report's
elapsed_ms, the function process's peak RSS (VmHWM), the cold start, and PASS/FAIL against
wall <= 2 s and peak RSS <= 64 MiB with every target ok. Exit status: 0 PASS, 1 FAIL, 2 when it
could not run (no binary, no cargo-lambda).

The binary: PROBE_BINARY, else $AUTOWIRE_PROBE_BOOTSTRAP, else the release build under
$CARGO_TARGET_DIR (default ~/.cache/privatelink-autowire/target), else the debug build there.
Everything stays on loopback.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "emulator"))
sys.path.insert(0, str(REPO / "tests" / "binary"))

from lambda_harness import LambdaHarness  # noqa: E402
from probe_servers import BenchTlsServer, TestPki  # noqa: E402
from testbed_util import find_tool  # noqa: E402

MAX_WALL_S = 2.0
MAX_RSS_MIB = 64.0
DOMAIN = "bench.link.example.com"
TIMEOUT_MS = 5000


def find_probe(arg: str | None) -> tuple[Path | None, str]:
    """(path, how it was found) of the probe binary; path None when there is none."""
    if arg:
        return Path(arg), "command line"
    env = os.environ.get("AUTOWIRE_PROBE_BOOTSTRAP")
    if env:
        return Path(env), "AUTOWIRE_PROBE_BOOTSTRAP"
    target = Path(os.environ.get("CARGO_TARGET_DIR")
                  or Path.home() / ".cache" / "privatelink-autowire" / "target")
    for profile in ("release", "debug"):
        p = target / profile / "probe"
        if p.is_file():
            return p, f"{profile} build"
    return None, f"no probe under {target}/{{release,debug}}"


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kib(value: str) -> float:
    """'12345 kB' -> 12345.0"""
    return float(value.split()[0])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("probe", nargs="?", help="probe binary (see the module doc for defaults)")
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=None,
                    help="the event's concurrency (default: the probe's own)")
    ap.add_argument("--runs", type=int, default=1, help="big invokes (each must pass)")
    ap.add_argument("--workers", type=int, default=None, help="TLS server processes")
    ap.add_argument("--max-wall-s", type=float, default=MAX_WALL_S)
    ap.add_argument("--max-rss-mib", type=float, default=MAX_RSS_MIB)
    args = ap.parse_args(argv)

    probe, how = find_probe(args.probe)
    if probe is None or not probe.is_file():
        print(f"bench-probe: probe binary not found ({probe or how}); build it first",
              file=sys.stderr)
        return 2
    cargo_lambda = find_tool("cargo-lambda")
    if cargo_lambda is None:
        print("bench-probe: cargo-lambda not found (run `make venv`)", file=sys.stderr)
        return 2
    profile = "release" if "/release/" in str(probe.resolve()) else (
        "debug" if "/debug/" in str(probe.resolve()) else "unknown")
    print(f"probe:  {probe} ({how})" if how.endswith("build") else
          f"probe:  {probe} ({how}; {profile} build)")
    if profile == "debug":
        print("        note: a debug build; the targets are meant for the release build")

    with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
        pki = TestPki(Path(tmp), name="Autowire Bench CA")
        leaf = pki.leaf([f"*.{DOMAIN}", DOMAIN], valid_days=90)
        with BenchTlsServer(leaf, workers=args.workers) as server:
            print(f"server: 127.0.0.1:{server.port}, {len(server.pids)} TLS worker processes "
                  f"(pids {', '.join(map(str, server.pids))}), ECDSA P-256 certificate")
            with LambdaHarness(probe, "probe", timeout_s=60, cargo_lambda=cargo_lambda) as fn:
                return bench(fn, server, pki, args)


def target(host: str, port: int, pki: TestPki) -> dict:
    return {"host": host, "port": port, "service_key": "bench", "az_id": "use1-az1",
            "tls": {"ca_bundle_pem": pki.ca_pem}}


def bench(fn: LambdaHarness, server: BenchTlsServer, pki: TestPki, args) -> int:
    # 1. cold start: process start -> first response, one target
    warm_host = f"warm.{DOMAIN}"
    warm = fn.invoke_detailed({"targets": [target(warm_host, server.port, pki)],
                               "timeout_ms": TIMEOUT_MS, "hosts": {warm_host: "127.0.0.1"},
                               "system_dns": False})
    if not warm.ok or not (warm.payload or {}).get("ok"):
        print(f"FAIL  the warm-up invoke did not succeed: {warm.error or warm.payload}")
        return 1
    init = fn.init_duration_s
    print(f"cold start (process start -> first response): {fn.cold_start_s * 1000:.1f} ms"
          + (f" (init to first /next: {init * 1000:.1f} ms)" if init is not None else ""))

    # 2. the big invokes
    names = [f"t{i:04d}.{DOMAIN}" for i in range(args.targets)]
    event = {"targets": [target(n, server.port, pki) for n in names], "timeout_ms": TIMEOUT_MS,
             "hosts": {n: "127.0.0.1" for n in names}, "system_dns": False}
    if args.concurrency is not None:
        event["concurrency"] = args.concurrency
    failures = []
    for run in range(1, args.runs + 1):
        before = server.handshakes()
        server_cpu = sum(cpu_s(p) for p in server.pids)
        probe_cpu = cpu_s(fn.pid) if fn.pid else 0.0
        inv = fn.invoke_detailed(event, http_timeout_s=120)
        wall = inv.duration_s
        time.sleep(0.2)
        handshakes = server.handshakes() - before
        pid = fn.pid
        server_cpu = sum(cpu_s(p) for p in server.pids) - server_cpu
        probe_cpu = (cpu_s(pid) - probe_cpu) if pid else float("nan")
        status = proc_status(pid) if pid else {}
        hwm = kib(status["VmHWM"]) / 1024 if "VmHWM" in status else float("nan")
        rss = kib(status["VmRSS"]) / 1024 if "VmRSS" in status else float("nan")
        label = f"run {run}: " if args.runs > 1 else ""
        if not inv.ok:
            print(f"{label}invoke failed: {inv.error}")
            failures.append("the invoke failed")
            continue
        report = inv.payload
        summary = report.get("summary", {})
        classes = collections.Counter(
            (t.get("error") or {}).get("class") for t in report.get("targets", ()) if not t.get("ok"))
        elapsed = report.get("elapsed_ms")
        elapsed = f"{elapsed:.1f}" if isinstance(elapsed, (int, float)) else repr(elapsed)
        print(f"{label}{args.targets} TCP+TLS targets: wall {wall:.3f} s, report elapsed_ms "
              f"{elapsed}, ok {summary.get('ok')}/{summary.get('total')}, "
              f"server-side handshakes {handshakes}")
        if classes:
            print(f"{label}failures by class: {dict(classes)}")
            first = next(t for t in report["targets"] if not t.get("ok"))
            print(f"{label}first failure: {first}")
        print(f"{label}CPU during the invoke: probe {probe_cpu:.2f} s, TLS server {server_cpu:.2f} s "
              f"({os.cpu_count()} CPUs)")
        print(f"{label}peak RSS (VmHWM of pid {pid}): {hwm:.1f} MiB (VmRSS now {rss:.1f} MiB)")
        if wall > args.max_wall_s:
            failures.append(f"wall {wall:.3f} s > {args.max_wall_s:g} s")
        if not hwm <= args.max_rss_mib:
            failures.append(f"peak RSS {hwm:.1f} MiB > {args.max_rss_mib:g} MiB")
        if summary.get("ok") != args.targets or report.get("ok") is not True:
            failures.append(f"{summary.get('ok')}/{args.targets} targets ok")

    if failures:
        print("FAIL  " + "; ".join(failures))
        return 1
    print(f"PASS  wall <= {args.max_wall_s:g} s, peak RSS <= {args.max_rss_mib:g} MiB, "
          f"all {args.targets} targets ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
