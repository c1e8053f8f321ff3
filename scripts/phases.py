#!/usr/bin/env python3
"""Time the phases of `make test` and print them as one table, so a slow run says where it went.

    scripts/phases.py start LOG               begin a new run (empties LOG)
    scripts/phases.py run LOG NAME [--] CMD...  run CMD, record NAME, its wall seconds and exit status
    scripts/phases.py print LOG               the table of the run in LOG

`run` exits with CMD's status, so a failing phase still fails `make`. LOG is tab-separated:
name, seconds, exit status, one line a phase, in the order they ran.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def record(log: Path, name: str, cmd: list[str]) -> int:
    start = time.monotonic()
    try:
        status = subprocess.call(cmd)
    except FileNotFoundError as e:
        print(f"phases: {name}: {e}", file=sys.stderr)
        status = 127
    with log.open("a", encoding="utf-8") as f:
        f.write(f"{name}\t{time.monotonic() - start:.1f}\t{status}\n")
    return status


def table(log: Path) -> str:
    if not log.is_file():
        return f"phases: no run recorded in {log}"
    rows = [line.split("\t") for line in log.read_text(encoding="utf-8").splitlines() if line]
    width = max([len(r[0]) for r in rows] + [5])
    total = sum(float(r[1]) for r in rows)
    lines = [f"{'phase':<{width}}  {'seconds':>8}  {'share':>6}  result"]
    for name, seconds, status in rows:
        share = 100 * float(seconds) / total if total else 0
        result = "ok" if status == "0" else f"FAILED ({status})"
        lines.append(f"{name:<{width}}  {float(seconds):>8.1f}  {share:>5.0f}%  {result}")
    lines.append(f"{'total':<{width}}  {total:>8.1f}  {'':>6}  {total / 60:.1f} min")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "start":
        log = Path(argv[1])
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("", encoding="utf-8")
        return 0
    if len(argv) == 2 and argv[0] == "print":
        print(table(Path(argv[1])))
        return 0
    if len(argv) >= 4 and argv[0] == "run":
        cmd = argv[4:] if argv[3] == "--" else argv[3:]
        return record(Path(argv[1]), argv[2], cmd)
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
