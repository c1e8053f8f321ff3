"""Binary tests: the real Lambda binaries under cargo-lambda's runtime emulator, against the test
bed. Shares the test bed's fixtures, and adds (one per test module):

- `capture`: the CloudFormation ResponseURL stand-in; `proxy`: the fault proxy the function's
  AWS calls go through (counts them, injects faults);
- `cfn`: a `binary_support.CloudFormation` that sends requests and returns the one answer;
- `relay_provider`: the provider binary with a short Timeout (5 s) and the async invoke relay,
  so every wait it hands over (`Step::Wait` longer than the invocation) runs as a real
  continuation.

A module may define its own `capture`/`proxy` (test_provider_binary.py does); those win there.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "emulator"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402

from testbed_fixtures import (  # noqa: E402  the test bed's fixtures, shared
    PROVIDER,
    account,
    consumer,
    consumer_vpc,
    emulator_url,
    imported_certificate,
    outsider,
    provider,
    provider_network,
    public_zone,
)

from binary_support import CloudFormation, provider_harness  # noqa: E402
from capture import CaptureServer  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402

__all__ = [  # re-exported for pytest (fixtures are found by name in conftest's namespace)
    "account", "consumer", "consumer_vpc", "emulator_url", "imported_certificate", "outsider",
    "provider", "provider_network", "public_zone",
    "capture", "proxy", "cfn", "relay_provider",
]

RELAY_TIMEOUT_S = 5  # shorter than twice any poll: every wait goes through continuations


@pytest.fixture(scope="module")
def capture():
    with CaptureServer() as c:
        yield c


@pytest.fixture(scope="module")
def proxy(emulator_url):
    p = FaultProxy(emulator_url).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def cfn(capture):
    return CloudFormation(capture)


@pytest.fixture(scope="module")
def relay_provider(account, proxy):
    with provider_harness(account(PROVIDER), proxy, RELAY_TIMEOUT_S) as h:
        yield h


# Figures the tests record (record_property) for the end of the run: each crash matrix and the
# fuzz run. Recorded properties travel with the reports, so this works under pytest-xdist too.
FIGURES = ("crash matrix", "fuzz")


def pytest_terminal_summary(terminalreporter):
    found: dict[str, list[dict]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue  # the teardown report carries the same properties
            for name, value in getattr(report, "user_properties", ()):
                if name in FIGURES and isinstance(value, dict):
                    found.setdefault(name, []).append(value)
    if not found:
        return
    terminalreporter.section("figures")
    matrices = sorted(found.get("crash matrix", []), key=lambda f: f["name"])
    if matrices:
        runs = sum(m["runs"] for m in matrices)
        converged = sum(m["converged"] for m in matrices)
        sizes = ", ".join(f"{m['name']} {m['runs']}" for m in matrices)
        terminalreporter.write_line(f"crash matrix: {sizes} → {runs} runs, {converged} converged")
        for m in matrices:
            terminalreporter.write_line(f"  {m['line']}")
    for fuzz in found.get("fuzz", []):
        terminalreporter.write_line(f"fuzz: {fuzz['line']}")
