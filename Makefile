# privatelink-autowire: every entry point installs what it is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE_DIR      ?= $(HOME)/.cache/privatelink-autowire
LOCK           := tests/emulator/requirements.lock
VENV           := $(CACHE_DIR)/venv-$(shell sha256sum $(LOCK) | cut -c1-12)
# The template linters (checkov, parliament) in a venv of their own: checkov's pins (boto3,
# networkx, packaging) conflict with SAM CLI's and moto's in $(LOCK).
LINT_LOCK      := tests/emulator/linters.lock
LINT_VENV      := $(CACHE_DIR)/linters-$(shell sha256sum $(LINT_LOCK) | cut -c1-12)
PY             := $(VENV)/bin/python
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/target
export PATH := $(VENV)/bin:$(PATH)
EMULATOR_PORT  ?= 5055
ARM_TARGET     := aarch64-unknown-linux-gnu

.PHONY: help tools venv rust-target system-packages emulator test lint test-all build-debug test-cargo \
        test-pytest build-release sam-build template-check build smoke demo demo-seeds bench fuzz phases \
        profile-table print-venv linters print-lint-venv

help:
	@echo "make demo      provider -> consumer -> probe -> reconciler through the real binaries, on the emulator"
	@echo "make demo-seeds the two write-ups' systems, deployed from examples/ on the emulator through the"
	@echo "               real binaries: each probe's report, each write-up's troubleshooting, then all deleted"
	@echo "make bench     the probe against 1,000 TCP+TLS targets on loopback (time, memory);"
	@echo "               the reconciler over 100 links on the emulator (calls per pass, time, memory)"
	@echo "make fuzz      1,000 seeded CloudFormation events (and garbage) through the real binaries:"
	@echo "               answers, FAILED/SUCCESS, panics, hangs, time (FUZZ_SEED=$(FUZZ_SEED))"
	@echo "make lint | test-all | template-check | build | smoke   the parts of make test"
	@echo "make test      every test: unit, wire (emulator), binaries (runtime emulator), template;"
	@echo "               ends with the time of each phase (make phases prints it again)"
	@echo "make emulator  the AWS test bed alone, in the foreground, on 127.0.0.1:$(EMULATOR_PORT)"

# ---- tools -----------------------------------------------------------------
tools: venv rust-target system-packages

# qemu-user runs the arm64 artifacts in the smoke test on a non-arm64 machine.
SYSTEM_PACKAGES := qemu-user-static libc6-arm64-cross
system-packages:
	@if [ "$$(uname -m)" != aarch64 ] && ! { command -v qemu-aarch64-static >/dev/null && [ -d /usr/aarch64-linux-gnu/lib ]; }; then \
	  echo "installing $(SYSTEM_PACKAGES)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi

venv: $(VENV)/.ok
$(VENV)/.ok: $(LOCK)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r $(LOCK)
	touch $@

rust-target:
	@rustup target list --installed | grep -qx $(ARM_TARGET) || rustup target add $(ARM_TARGET)

# ---- test bed --------------------------------------------------------------
emulator: venv
	$(PY) tests/emulator/server.py --host 127.0.0.1 --port $(EMULATOR_PORT)


# ---- tests -----------------------------------------------------------------
# Everything that compiles runs in one stable copy of the checkout, $(STABLE_TREE): cargo keys its
# cache on each workspace crate's path and on its sources' times, so a fresh clone built in place
# rebuilds every crate and relinks every function even when nothing changed. scripts/stable-tree.py
# copies only what changed (new times for those files alone); a lock keeps two checkouts from
# sharing the copy at once. `make build` and `make test` bring .aws-sam/ back to the checkout.
STABLE_TREE    ?= $(CACHE_DIR)/tree
PHASE_LOG      ?= $(CACHE_DIR)/phases.tsv
PHASES         := python3 scripts/phases.py
PHASE          := $(PHASES) run $(PHASE_LOG)
SUBMAKE        := $(MAKE) --no-print-directory
DEBUG_BIN      := $(CARGO_TARGET_DIR)/debug
BOOTSTRAPS     := AUTOWIRE_PROVIDER_BOOTSTRAP=$(DEBUG_BIN)/provider \
                  AUTOWIRE_CONSUMER_BOOTSTRAP=$(DEBUG_BIN)/consumer \
                  AUTOWIRE_RECONCILER_BOOTSTRAP=$(DEBUG_BIN)/reconciler \
                  AUTOWIRE_PROBE_BOOTSTRAP=$(DEBUG_BIN)/probe AUTOWIRE_TEST_BOOTSTRAP=$(DEBUG_BIN)/provider
# pytest workers: each one starts its own emulator, so tests never share emulator state.
PYTEST_WORKERS ?= 3
FUZZ_EVENTS    ?= 1000
FUZZ_SEED      ?= 1

IN_TREE_TARGETS := test lint test-all build-debug test-cargo test-pytest build-release build smoke demo demo-seeds bench \
                   fuzz profile-table

ifneq ($(abspath $(CURDIR)),$(abspath $(STABLE_TREE)))
$(IN_TREE_TARGETS):
	@mkdir -p $(CACHE_DIR)
	@flock $(CACHE_DIR)/tree.lock bash -c 'set -e; python3 scripts/stable-tree.py . $(STABLE_TREE); \
	  $(SUBMAKE) -C $(STABLE_TREE) $@ CACHE_DIR=$(CACHE_DIR) STABLE_TREE=$(STABLE_TREE); \
	  if [ -d $(STABLE_TREE)/.aws-sam ] && [[ " build test " == *" $@ "* ]]; then \
	    rm -rf .aws-sam && cp -a $(STABLE_TREE)/.aws-sam .aws-sam; fi'
else

## Everything CI runs, each phase timed; the table is printed at the end (again: make phases).
test:
	@$(PHASES) start $(PHASE_LOG)
	@$(PHASE) tools          $(SUBMAKE) tools
	@$(PHASE) lint           $(SUBMAKE) lint
	@$(PHASE) build-debug    $(SUBMAKE) build-debug
	@$(PHASE) test-cargo     $(SUBMAKE) test-cargo
	@$(PHASE) test-pytest    $(SUBMAKE) test-pytest
	@$(PHASE) template-check $(SUBMAKE) template-check
	@$(PHASE) build-release  $(SUBMAKE) build-release
	@$(PHASE) sam-build      $(SUBMAKE) sam-build
	@$(PHASE) smoke          $(SUBMAKE) smoke
	@$(PHASES) print $(PHASE_LOG)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test-all: build-debug test-cargo test-pytest

## One build of binaries and tests together (one feature set) for the cargo and pytest tests.
build-debug: tools
	cargo build --workspace --all-targets

## Unit, fixture and wire tests (the wire tests against one fresh emulator).
test-cargo: build-debug
	$(PY) tests/emulator/with_emulator.py -- cargo test --workspace

## The test bed and the real binaries, in parallel workers with an emulator each.
test-pytest: build-debug
	$(BOOTSTRAPS) $(PY) -m pytest -p no:cacheprovider -q -n $(PYTEST_WORKERS) --dist loadfile \
	  tests/emulator tests/binary

## Every function's arm64 release binary in one cargo invocation: dependencies compile once and
## the fat-LTO links run side by side. `sam build` then finds them built.
build-release: tools
	cargo lambda build --release --arm64

## sam build: arm64 bootstrap artifacts, zipped, sizes printed.
build: build-release
	$(SUBMAKE) sam-build

sam-build: tools
	scripts/sam-build.sh

## Each function sam built, run once through the runtime emulator.
smoke: tools
	$(PY) tests/emulator/with_emulator.py -- $(PY) tests/binary/smoke.py .aws-sam/build

# ---- demo ------------------------------------------------------------------
demo: build-debug
	$(BOOTSTRAPS) $(PY) tests/emulator/with_emulator.py -- $(PY) tests/demo/demo.py

## examples/terraform-writeup/ and examples/cdk-writeup/ deployed on the emulator (tests/demo/demo_seeds.py).
demo-seeds: build-debug
	$(BOOTSTRAPS) $(PY) tests/emulator/with_emulator.py -- $(PY) tests/demo/demo_seeds.py

# ---- bench -----------------------------------------------------------------
## The probe against 1,000 TCP+TLS targets on loopback: wall time, peak RSS, cold start. Then the
## reconciler over 100 links on the emulator: calls per pass, wall time, peak RSS.
bench: build-debug
	cargo build --release -p probe -p reconciler
	AUTOWIRE_PROBE_BOOTSTRAP=$(CARGO_TARGET_DIR)/release/probe $(PY) scripts/bench-probe.py
	$(BOOTSTRAPS) AUTOWIRE_RECONCILER_BOOTSTRAP=$(CARGO_TARGET_DIR)/release/reconciler \
	  $(PY) tests/emulator/with_emulator.py -- $(PY) scripts/bench-reconciler.py --links 100

# ---- fuzz -----------------------------------------------------------------
## Seeded events through the debug binaries (tests/binary/fuzz.py): one answer for each usable
## ResponseURL, none elsewhere, no panic, no hang; the counts and the time.
fuzz: build-debug
	$(BOOTSTRAPS) $(PY) tests/emulator/with_emulator.py -- \
	  $(PY) tests/binary/fuzz.py --events $(FUZZ_EVENTS) --seed $(FUZZ_SEED)

## What each release-profile choice costs: zip size, link time, native cold start (slow: rebuilds).
profile-table: tools
	$(PY) scripts/profile-table.py

endif

## The template checks; the linters' venv is built first when missing.
template-check: tools linters
	LINT_VENV=$(LINT_VENV) scripts/check-template.sh --install-guard

linters: $(LINT_VENV)/.ok
$(LINT_VENV)/.ok: $(LINT_LOCK)
	python3 -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --disable-pip-version-check -q -r $(LINT_LOCK)
	touch $@

## The phase table of the last `make test`.
phases:
	@$(PHASES) print $(PHASE_LOG)

print-venv:
	@echo $(VENV)

print-lint-venv:
	@echo $(LINT_VENV)
