"""The crash matrix: a custom resource's function SIGKILLed right after its N-th mutating call,
for every N a clean run makes, then the same event delivered again, as Lambda's asynchronous
retry would (same RequestId, same ResponseURL; a killed continuation gets its own event again).
Mutating calls are the AWS calls through the fault proxy that are not Describe/Get/List, and
the hand-overs of a wait to a continuation (lambda:Invoke, Event, through the harness's relay),
counted together in arrival order: one `fault_proxy.Crash` armed on both. Each run must end
with one SUCCESS answer, the same resources as the clean run (no duplicate, nothing orphaned),
and a Delete that leaves what was there before. Create's calls and Delete's are crashed alike.
The one-chain markers (Parameter Store, under the run's CLAIMS_PATH) are the only things a run
may leave, and each must carry an Expiration policy within the claims' lifetime: Parameter Store
deletes them itself.

A `Scenario` says how to build a fresh world for one run (a provider network, a zone, a VPC...)
and how to take its inventory: what exists of the run's resources, with generated IDs replaced
by placeholders so two runs compare. Runs are independent (a world, a fault proxy and a function
harness each), so they go side by side: most of a run is the function waiting in its polls.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from binary_support import CloudFormation, harness
from fault_proxy import FaultProxy, is_mutating
from lambda_harness import Invocation, LambdaHarness

RUN = uuid.uuid4().hex[:6]  # names differ between runs, so a long-lived emulator can be reused
AZ_IDS = ["use1-az1", "use1-az4"]  # the provider networks' zones
SERVICE_TIMEOUT = "60"  # a chain that never settles answers FAILED instead of hanging
DRAIN_S = 90  # a chain of continuations ends well within this (ServiceTimeout bounds it)
# The functions' Timeout: shorter than the polls, so every long wait runs as continuations. How
# many hand-overs a wait takes depends on the time each invocation has left, so a scenario picks
# a Timeout far from a boundary: 5 s hands a 3 s poll over once; 8 s hands a 10 s poll over
# twice (the last 1-2 s are slept in place), and 5 s would make that 4 or 5 depending on load.
FUNCTION_TIMEOUT_S = 5
TEN_SECOND_POLL_TIMEOUT_S = 8  # for the certificate's and private DNS's 10 s polls
PARALLEL_RUNS = 14  # runs side by side: they mostly wait
CLAIM_TTL_S = 3 * 3600  # cfn::CLAIM_TTL: how long a one-chain marker lives
CONTINUATION_KEY = "AutowireContinuation"

# Generated IDs and values, replaced by a placeholder so two runs' inventories compare; the
# lists keep their lengths, so a duplicate still shows.
_GENERATED = [
    (re.compile(r"arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+"), "<certificate>"),
    (re.compile(r"arn:aws:cloudformation:[a-z0-9-]+:\d{12}:stack/[^/\"]+/[0-9a-f-]+"), "<stack>"),
    (re.compile(r"vpce-svc-[0-9a-f]+"), "<service>"),
    (re.compile(r"vpce-nfn-[0-9a-f]+"), "<notification>"),
    (re.compile(r"vpce-[0-9a-f]{8,}"), "<endpoint>"),
    (re.compile(r"<endpoint>-[0-9a-z]{8}\b"), "<endpoint>-<dns>"),
    (re.compile(r"\bsg-[0-9a-f]+"), "<group>"),
    (re.compile(r"\bsubnet-[0-9a-f]+"), "<subnet>"),
    (re.compile(r"\bvpc-[0-9a-f]+"), "<vpc>"),
    (re.compile(r"\beni-[0-9a-f]+"), "<eni>"),
    (re.compile(r"\blink-[0-9a-f]{20}\b"), "<link>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    (re.compile(r"\b_[0-9a-z]{20,40}\b"), "_<token>"),
    (re.compile(r"vpce:[0-9A-Za-z]{20}"), "vpce:<token>"),
    (re.compile(r"\b[0-9a-z]{10}\.acm-validations\.aws"), "<token>.acm-validations.aws"),
    (re.compile(r"\b10\.\d+\.(\d+)\.(\d+)"), r"10.<n>.\1.\2"),
]


def tags_of(tag_list) -> dict:
    return {t["Key"]: t["Value"] for t in tag_list or []}


def normalized(value: Any, subs: Optional[dict[str, str]] = None) -> Any:
    """`value` (JSON-able) with the world's own names (`subs`: text -> placeholder, longest
    first) and every generated ID replaced; lists sorted, so order does not count."""
    text = json.dumps(value, sort_keys=True)
    for old in sorted(subs or {}, key=len, reverse=True):
        text = text.replace(old, (subs or {})[old])
    for rx, placeholder in _GENERATED:
        text = rx.sub(placeholder, text)
    return _sorted(json.loads(text))


def _sorted(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _sorted(x) for k, x in v.items()}
    if isinstance(v, list):
        items = [_sorted(x) for x in v]
        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
    return v


def differences(want: Any, got: Any, path: str = "") -> list[str]:
    """Where `got` differs from `want`, one line each."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got)):
            out += differences(want.get(k, "<absent>"), got.get(k, "<absent>"), f"{path}.{k}")
        return out
    if want != got:
        return [f"{path or '.'}: want {json.dumps(want)[:300]}, got {json.dumps(got)[:300]}"]
    return []


@dataclass
class World:
    """One run's fresh resources: the properties to create with, and the inventory of
    everything the resource could make or change in them."""

    props: dict
    inventory: Callable[[], Any]
    subs: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> Any:
        return normalized(self.inventory(), self.subs)


@dataclass
class Scenario:
    name: str
    function: str  # "provider" or "consumer"
    session: Any  # the account the function acts as
    resource_type: str
    logical_id: str
    world: Callable[[str], World]  # label -> a fresh world
    env: dict = field(default_factory=dict)
    timeout_s: float = FUNCTION_TIMEOUT_S


PHASES = ("Create", "Delete")


@dataclass
class Run:
    scenario: str
    phase: Optional[str]  # the request that crashes; None: the clean run
    n: Optional[int] = None  # crash after this mutating call of that request
    calls: dict = field(default_factory=dict)  # phase -> its mutating calls, crash and retry
    killed: Optional[dict] = None  # the call after which the process died
    killed_round: Optional[int] = None  # 0: CloudFormation's event; k: the k-th continuation
    answer: Optional[dict] = None  # the Create's, normalized
    created: Any = None  # inventory after the Create converged
    problems: list[str] = field(default_factory=list)
    markers: int = 0  # one-chain markers left, each expiring by itself
    seconds: float = 0.0

    @property
    def label(self) -> str:
        if self.phase is None:
            return f"{self.scenario} clean"
        where = "" if self.killed_round is None else f", round {self.killed_round}"
        what = (self.killed or {}).get("action", "?")
        return f"{self.scenario} {self.phase} N={self.n} (after {what}{where})"


def round_of(event: Any) -> int:
    cont = event.get(CONTINUATION_KEY) if isinstance(event, dict) else None
    return int(cont.get("round", 0)) if isinstance(cont, dict) else 0


def deliver(fn: LambdaHarness, event: dict) -> list[Invocation]:
    """One delivery of `event` and every continuation it starts, to the end of the chain."""
    return [fn.invoke_detailed(event)] + fn.drain_async(DRAIN_S)


def tail(fn: LambdaHarness, n: int = 12) -> str:
    return "\n    ".join(line.line[:400] for line in fn.logs()[-n:])


def one_answer(run: Run, capture, event: dict) -> Optional[dict]:
    """The one answer to `event`, SUCCESS; anything else is a problem of the run."""
    what = event["RequestType"]
    attempts = capture.attempts("/" + event["RequestId"])
    bodies = [a["body"] for a in attempts]
    if len(attempts) != 1:
        said = [(b.get("Status"), b.get("Reason")) if isinstance(b, dict) else b for b in bodies]
        run.problems.append(f"{what}: {len(attempts)} answers, want 1: {said}")
    elif bodies[0].get("Status") != "SUCCESS":
        said = f"{bodies[0].get('Status')}: {bodies[0].get('Reason')}"
        run.problems.append(f"{what}: answered {said}")
    return bodies[-1] if bodies else None


def crash_run(scn: Scenario, phase: Optional[str], n: Optional[int], emulator_url: str, capture,
              baseline: Optional[Run] = None) -> Run:
    """Create then Delete, the `phase` one SIGKILLed after its `n`-th mutating call and delivered
    again (none: the clean run); every check that fails is a problem of the run."""
    run = Run(scn.name, phase, n)
    started = time.monotonic()
    label = re.sub(r"[^a-z0-9]+", "-", f"{scn.name}-{phase or 'clean'}-{n or 0}".lower())
    world = scn.world(label)
    before = world.snapshot()
    proxy = FaultProxy(emulator_url).start()
    claims = f"/privatelink-autowire/claims/{RUN}-{label}"
    env = {**scn.env, "CLAIMS_PATH": claims}
    try:
        with harness(scn.function, scn.session, proxy, scn.timeout_s, env) as fn:
            try:
                cfn = CloudFormation(capture, scn.session.account_id, f"crash-{label}")
                _create_and_delete(scn, run, world, before, fn, proxy, cfn, baseline)
            except Exception as e:  # a harness failure or a timeout: this run's problem
                run.problems.append(f"{type(e).__name__}: {e}")
            run.markers, stay = markers_left(scn.session, claims)
            run.problems += stay
            if any("panicked" in line.line for line in fn.logs()):
                run.problems.append("the function panicked")
            if run.problems:
                run.problems.append("last log lines:\n    " + tail(fn))
    finally:
        proxy.stop()
    run.seconds = time.monotonic() - started
    return run


def markers_left(session, path: str) -> tuple[int, list[str]]:
    """How many one-chain markers the run left, and those Parameter Store would not delete by
    itself within the claims' lifetime (each must be Advanced, with one Expiration no later)."""
    ssm = session.client("ssm")
    found = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [path]}])["Parameters"]
    latest = time.time() + CLAIM_TTL_S + 60
    problems = []
    for p in found:
        expiries = [json.loads(x["PolicyText"])["Attributes"]["Timestamp"]
                    for x in p.get("Policies", []) if x.get("PolicyType") == "Expiration"]
        when = [calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) for t in expiries]
        if p.get("Tier") != "Advanced" or len(when) != 1 or when[0] > latest:
            problems.append(f"marker {p['Name']} would stay: tier {p.get('Tier')}, "
                            f"expirations {expiries}")
    return len(found), problems


def mutating_calls(proxy: FaultProxy, relayed: list) -> list[str]:
    """The function's mutating calls in arrival order: its AWS calls through the fault proxy and
    its hand-overs (Event invokes of itself) through the harness's relay."""
    calls = [(c["time"], c["action"]) for c in proxy.calls() if is_mutating(c)]
    calls += [(c.time, "Invoke") for c in relayed if c.invocation_type == "Event"]
    return [name for _, name in sorted(calls)]


def _send(run: Run, fn: LambdaHarness, proxy: FaultProxy, event: dict) -> None:
    """Deliver `event`; when it is the run's phase, crash it and deliver the failed event again,
    as Lambda's retry does. Its mutating calls go to `run.calls`."""
    proxy.reset_calls()
    relayed = len(fn.relay_calls())
    crash = None
    if run.phase == event["RequestType"]:
        crash = proxy.kill_after(run.n, lambda: fn.pid)
        fn.relay.arm(crash)  # the n-th mutating call may be a hand-over
    failed = [i for i in deliver(fn, event) if not i.ok]
    if crash is not None:
        run.killed = crash.as_dict()["fired"]
        proxy.disarm()
        fn.relay.disarm()
        if run.killed is None:
            run.problems.append(f"no crash: fewer than {run.n} mutating calls")
        elif len(failed) != 1 or failed[0].error.get("errorType") != "Runtime.ExitError":
            run.problems.append(f"the crash did not fail exactly one invocation: "
                                f"{[i.error for i in failed]}")
        else:
            run.killed_round = round_of(failed[0].event)
            # Lambda's retry of the failed asynchronous invocation: the same event again.
            failed = [i for i in deliver(fn, failed[0].event) if not i.ok]
    if failed:
        run.problems.append(f"{event['RequestType']}: invocations failed: "
                            f"{[i.error for i in failed]}")
    run.calls[event["RequestType"]] = mutating_calls(proxy, fn.relay_calls()[relayed:])


def _create_and_delete(scn, run, world, before, fn, proxy, cfn, baseline) -> None:
    create = cfn.event(fn, "Create", scn.resource_type, scn.logical_id, world.props)
    _send(run, fn, proxy, create)
    answer = one_answer(run, cfn.capture, create)
    run.answer = normalized(answer, world.subs) if answer else None
    run.created = world.snapshot()
    if baseline is not None:
        for d in differences(baseline.created, run.created):
            run.problems.append(f"after Create, unlike the clean run: {d}")
        if baseline.answer and run.answer:
            for d in differences(baseline.answer.get("Data"), run.answer.get("Data")):
                run.problems.append(f"answer unlike the clean run's: {d}")
    if not answer or answer.get("Status") != "SUCCESS":
        return
    delete = cfn.event(fn, "Delete", scn.resource_type, scn.logical_id, world.props,
                       physical_id=answer["PhysicalResourceId"])
    _send(run, fn, proxy, delete)
    one_answer(run, cfn.capture, delete)
    for d in differences(before, world.snapshot()):
        run.problems.append(f"left after Delete: {d}")


def crash_matrix(scn: Scenario, emulator_url: str, capture) -> tuple[Run, list[Run]]:
    """The clean run, then one run per mutating call it made (Create's, then Delete's), side by
    side."""
    clean = crash_run(scn, None, None, emulator_url, capture)
    if clean.problems:
        return clean, []
    points = [(p, n) for p in PHASES for n in range(1, len(clean.calls.get(p, [])) + 1)]
    if not points:
        return clean, []
    with concurrent.futures.ThreadPoolExecutor(min(len(points), PARALLEL_RUNS)) as pool:
        runs = list(pool.map(
            lambda point: crash_run(scn, *point, emulator_url, capture, clean), points))
    return clean, runs


# A crash right after a hand-over (the function's lambda:Invoke of itself) leaves the
# continuation queued while Lambda's retry of the killed invocation starts a second chain: the
# one-chain markers let only one of them answer. These points are counted apart.
def is_handover(clean: Run, phase: str, n: int) -> bool:
    return clean.calls.get(phase, [])[n - 1] == "Invoke"


def summary(scn: Scenario, clean: Run, runs: list[Run]) -> dict:
    """The matrix's figures, and one line that says them."""
    sizes = {p: len(clean.calls.get(p, [])) for p in PHASES}
    handovers = sum(is_handover(clean, p, n) for p in PHASES for n in range(1, sizes[p] + 1))
    converged = sum(1 for r in runs if not r.problems)
    calls = "; ".join(f"{p}: {', '.join(clean.calls.get(p, []))}" for p in PHASES)
    line = (f"{scn.name} {' + '.join(f'{p} {k}' for p, k in sizes.items())} = {len(runs)} runs, "
            f"{converged} converged, {handovers} of them right after a hand-over, "
            f"{sum(r.markers for r in runs)} expiring marker(s) left "
            f"(clean run {clean.seconds:.0f} s; {calls})")
    return {"name": scn.name, "runs": len(runs), "converged": converged,
            "handovers": handovers, "line": line}


def report(clean: Run, runs: list[Run]) -> str:
    """Each run that did not converge, with its problems."""
    out = []
    for r in [clean] + runs:
        if r.problems:
            out.append(f"{r.label}:\n  " + "\n  ".join(r.problems))
    return "\n".join(out)


def check(scn: Scenario, emulator_url: str, capture, record_property) -> None:
    """Run the scenario's matrix; record its figures (the terminal summary prints them) and fail
    with every run that did not converge."""
    clean, runs = crash_matrix(scn, emulator_url, capture)
    assert not clean.problems, report(clean, [])
    assert clean.calls.get("Create"), "the clean Create made no mutating call"
    figures = summary(scn, clean, runs)
    record_property("crash matrix", figures)
    print(figures["line"])
    assert all(not r.problems for r in runs), f"{figures['line']}\n{report(clean, runs)}"
    assert all(r.killed is not None for r in runs)
