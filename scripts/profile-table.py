#!/usr/bin/env python3
"""What each release-profile choice costs, per function: the arm64 bootstrap.zip size, the arm64
link time, and the cold start of the native x86_64 release build (exec to first answer, through
the runtime emulator, as tests/binary/smoke.py measures it). Prints a Markdown table.

    scripts/profile-table.py [VARIANT ...]      (make profile-table; needs the venv on PATH)

A variant is NAME or NAME:VAR=VALUE,VAR=VALUE with cargo's profile variables, for example
`thin:CARGO_PROFILE_RELEASE_LTO=thin`. Without arguments: the shipped profile and the variants
below. Link time is the wall time of `cargo lambda build --release --arm64 --bin NAME` after its
main.rs is touched: the function's own crate compiles, then the whole program links (with LTO).
Each variant rebuilds the workspace crates; dependencies are rebuilt only where a variable changes
how they compile (opt-level does, LTO and the workspace crates' codegen units do not).
"""

from __future__ import annotations

import io
import os
import re
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
    "fat-cgu16:CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16",
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


def arm64(env: dict[str, str]) -> dict[str, tuple[int, float]]:
    """Per function: (zip bytes, link seconds)."""
    run(["cargo", "lambda", "build", "--release", "--arm64"], env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    out = {}
    for fn in FUNCTIONS:
        (ROOT / "functions" / fn / "src" / "main.rs").touch()
        start = time.monotonic()
        run(["cargo", "lambda", "build", "--release", "--arm64", "--bin", fn], env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out[fn] = (zipped_size(target / "lambda" / fn / "bootstrap"), time.monotonic() - start)
    return out


def cold_starts(env: dict[str, str]) -> dict[str, float]:
    """Per function: ms from exec to first answer, native release build."""
    run(["cargo", "build", "--release", "--workspace", "--bins"], env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    with tempfile.TemporaryDirectory() as tmp:
        for fn, logical in FUNCTIONS.items():
            (Path(tmp) / logical).mkdir()
            (Path(tmp) / logical / "bootstrap").symlink_to(target / fn)
        out = run([sys.executable, "tests/emulator/with_emulator.py", "--", sys.executable,
                   "tests/binary/smoke.py", tmp], env, capture_output=True, text=True).stdout
    found = dict(re.findall(r"smoke (\w+): SUCCESS, cold start to first response (\d+) ms", out))
    by_logical = {logical: fn for fn, logical in FUNCTIONS.items()}
    return {by_logical[k]: float(v) for k, v in found.items()}


def main(argv: list[str]) -> int:
    rows = []
    for variant in argv or DEFAULT_VARIANTS:
        name, env = parse(variant)
        print(f"==> {name} {env}", file=sys.stderr, flush=True)
        sizes, starts = arm64(env), cold_starts(env)
        for fn in FUNCTIONS:
            size, link = sizes[fn]
            rows.append((name, fn, size / 1048576, link, starts.get(fn)))
    print("| profile | function | arm64 bootstrap.zip (MiB) | arm64 link (s) | x86_64 cold start (ms) |")
    print("|---|---|---|---|---|")
    for name, fn, mib, link, cold in rows:
        cold_text = f"{cold:.0f}" if cold is not None else "no answer"
        print(f"| {name} | {fn} | {mib:.2f} | {link:.0f} | {cold_text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
