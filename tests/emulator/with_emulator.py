"""Run a command with the test bed up: starts the emulator on a free loopback port, exports
AUTOWIRE_EMULATOR_URL, runs the command, then stops the emulator (by its PID) whatever happens.

    python tests/emulator/with_emulator.py -- cargo test --workspace
"""

from __future__ import annotations

import os
import subprocess
import sys

from testbed_fixtures import start_emulator, stop_emulator


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: with_emulator.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    url, proc = start_emulator()
    print(f"test bed: emulator at {url} (pid {proc.pid})", flush=True)
    try:
        env = dict(os.environ, AUTOWIRE_EMULATOR_URL=url)
        return subprocess.call(argv, env=env)
    finally:
        stop_emulator(proc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
