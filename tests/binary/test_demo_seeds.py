"""`make demo-seeds` inside `make test`: tests/demo/demo_seeds.py against this worker's emulator,
through the real provider, consumer and probe binaries. Both examples (examples/terraform-writeup/,
examples/cdk-writeup/) are read as they are, so an example the demo cannot deploy, or one whose
probe, troubleshooting or deletion does not behave, fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from binary_support import bootstrap

DEMO = Path(__file__).resolve().parents[1] / "demo" / "demo_seeds.py"
DONE = "== done: every step behaved as expected"


def test_demo_seeds_runs_both_examples_to_the_end(emulator_url):
    env = dict(os.environ, AUTOWIRE_EMULATOR_URL=emulator_url)
    for name in ("provider", "consumer", "probe"):
        env[f"AUTOWIRE_{name.upper()}_BOOTSTRAP"] = bootstrap(name)
    run = subprocess.run([sys.executable, str(DEMO)], env=env, capture_output=True, text=True,
                         timeout=240)
    tail = f"{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, tail
    assert run.stdout.rstrip().endswith(DONE), tail
    assert 'CDK body check: "Hello from ALB!" matched' in run.stdout, tail
    assert "nothing left" in run.stdout, tail
