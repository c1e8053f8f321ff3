"""The fuzz run (fuzz.py) in small: the first 100 events of `make fuzz`'s seeded 1,000, through
the real binaries. Exactly one answer for each event with a usable ResponseURL, none anywhere
for the others, no panic, no hang, no crash."""

from __future__ import annotations

from fuzz import Fuzzer, digest, generate

SEED = 1  # make fuzz's default: these are its first 100 events
EVENTS = 100


def test_fuzzed_events_get_one_answer_and_never_panic_or_hang(emulator_url, record_property):
    cases = generate(SEED, EVENTS)
    assert digest(cases) == digest(generate(SEED, EVENTS)), "the events depend on the seed only"
    out = Fuzzer(emulator_url).run(cases)
    record_property("fuzz", {"line": out.line()})
    print(out.line())
    assert out.events == EVENTS
    assert out.answerable > 30 and out.unanswerable > 10, "both kinds are exercised"
    assert out.statuses.get("SUCCESS") and out.statuses.get("FAILED"), out.statuses
    assert out.ok, out.line() + "\n" + "\n".join(p[:600] for p in out.problems)
    assert out.single == out.events
