"""pytest wiring for the test bed: the fixtures live in testbed_fixtures so other test folders
(tests/binary) can share them."""

from testbed_fixtures import *  # noqa: F401,F403
