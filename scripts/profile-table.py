#!/usr/bin/env python3
"""What each release-profile choice costs: per function the arm64 bootstrap.zip size and the cold
start of the native x86_64 release build (exec to first answer, through the runtime emulator, as
tests/binary/smoke.py measures it), and the arm64 link time. Prints a Markdown table.

    scripts/profile-table.py [VARIANT ...]      (make profile-table; needs the venv on PATH)

A variant is NAME or NAME:VAR=VALUE,VAR=VALUE with cargo's profile variables, for example
`thin:CARGO_PROFILE_RELEASE_LTO=thin`. Without arguments: the shipped profile and the variants
below. Link time is the wall time of `cargo lambda build --release --arm64` after every function's
main.rs is touched: each function's own crate compiles, then the programs link (with LTO) side by
side, as in `make build-release` after a change.
Each variant rebuilds the workspace crates; dependencies are rebuilt only where a variable changes
how they compile (opt-level does, LTO and the workspace crates' codegen units do not).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {"provider": "ProviderFunction", "consumer": "ConsumerFunction", "probe": "ProbeFunction"}
DEFAULT_VARIANTS = [
    "shipped",
    "thin:CARGO_PROFILE_RELEASE_LTO=thin,CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16",
]


def parse(variant: str) -> tuple[str, dict[str, str]]:
    name, _, spec = variant.partition(":")
    env = dict(kv.split("=", 1) for kv in spec.split(",") if kv)
    return name, env


def run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, check=True, **kw)


def zipped_size(binary: Path) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("bootstrap", (1980, 1, 1, 0, 0, 0)), binary.read_bytes(),
                   compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return len(buf.getvalue())


def arm64(env: dict[str, str]) -> tuple[dict[str, int], float]:
    """Per function its zip bytes, and the seconds to relink them all (side by side, as
    `make build-release` does) after their main.rs files are touched."""
    run(["cargo", "lambda", "build", "--release", "--arm64"], env)
    for fn in FUNCTIONS:
        (ROOT / "functions" / fn / "src" / "main.rs").touch()
    start = time.monotonic()
    run(["cargo", "lambda", "build", "--release", "--arm64"], env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    relink = time.monotonic() - start
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return {fn: zipped_size(target / "lambda" / fn / "bootstrap") for fn in FUNCTIONS}, relink


def cold_starts(env: dict[str, str]) -> dict[str, float]:
    """Per function: ms from exec to first answer, native release build."""
    run(["cargo", "build", "--release", "--workspace", "--bins"], env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    with tempfile.TemporaryDirectory() as tmp:
        for fn, logical in FUNCTIONS.items():
            # A copy, not a link: smoke.py tells the functions apart by their folder's name.
            (Path(tmp) / logical).mkdir()
            shutil.copy2(target / fn, Path(tmp) / logical / "bootstrap")
        done = subprocess.run([sys.executable, "tests/emulator/with_emulator.py", "--", sys.executable,
                               "tests/binary/smoke.py", tmp], cwd=ROOT, env={**os.environ, **env},
                              capture_output=True, text=True)
        out = done.stdout
        if done.returncode != 0:
            print(out, done.stderr, file=sys.stderr)
    found = dict(re.findall(r"smoke (\w+): SUCCESS, cold start to first response (\d+) ms", out))
    by_logical = {logical: fn for fn, logical in FUNCTIONS.items()}
    return {by_logical[k]: float(v) for k, v in found.items()}


def main(argv: list[str]) -> int:
    rows = []
    for variant in argv or DEFAULT_VARIANTS:
        name, env = parse(variant)
        print(f"==> {name} {env}", file=sys.stderr, flush=True)
        (sizes, relink), starts = arm64(env), cold_starts(env)
        rows.append((name, sizes, relink, starts))
        print(f"==> {name}: zips {sizes}, relink {relink:.0f} s, cold starts {starts}", file=sys.stderr,
              flush=True)
    fns = list(FUNCTIONS)
    print("| profile | arm64 bootstrap.zip, MiB (" + ", ".join(fns) + ") | arm64 relink of all three, side "
          "by side (s) | x86_64 cold start, ms (" + ", ".join(fns) + ") |")
    print("|---|---|---|---|")
    for name, sizes, relink, starts in rows:
        zips = ", ".join(f"{sizes[f] / 1048576:.2f}" for f in fns)
        colds = ", ".join(f"{starts[f]:.0f}" if f in starts else "no answer" for f in fns)
        print(f"| {name} | {zips} | {relink:.0f} | {colds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
