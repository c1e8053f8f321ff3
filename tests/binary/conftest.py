"""Binary tests: the real Lambda binaries under cargo-lambda's runtime emulator, against the test
bed. Shares the test bed's fixtures."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "emulator"))

from testbed_fixtures import *  # noqa: E402,F401,F403
