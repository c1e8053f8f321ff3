# privatelink-autowire: every entry point installs what it is missing first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE_DIR      ?= $(HOME)/.cache/privatelink-autowire
LOCK           := tests/emulator/requirements.lock
VENV           := $(CACHE_DIR)/venv-$(shell sha256sum $(LOCK) | cut -c1-12)
PY             := $(VENV)/bin/python
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/target
export PATH := $(VENV)/bin:$(PATH)
EMULATOR_PORT  ?= 5055
ARM_TARGET     := aarch64-unknown-linux-gnu

.PHONY: help tools venv rust-target system-packages emulator test lint test-all template-check build smoke demo bench print-venv

help:
	@echo "make demo      provider -> consumer -> probe through the real binaries, on the emulator"
	@echo "make bench     the probe against 1,000 TCP+TLS targets on loopback (time, memory)"
	@echo "make lint | test-all | template-check | build | smoke   the parts of make test"
	@echo "make test      every test: unit, wire (emulator), binaries (runtime emulator), template"
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
DEBUG_BIN := $(CARGO_TARGET_DIR)/debug

## Everything CI runs.
test: tools lint test-all template-check build smoke

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# One build of binaries and tests together (one feature set), then unit, wire and binary tests
# against one fresh emulator.
test-all: tools
	cargo build --workspace --all-targets
	AUTOWIRE_PROVIDER_BOOTSTRAP=$(DEBUG_BIN)/provider AUTOWIRE_CONSUMER_BOOTSTRAP=$(DEBUG_BIN)/consumer \
	  AUTOWIRE_PROBE_BOOTSTRAP=$(DEBUG_BIN)/probe AUTOWIRE_TEST_BOOTSTRAP=$(DEBUG_BIN)/provider \
	  $(PY) tests/emulator/with_emulator.py -- bash -c \
	  'cargo test --workspace && $(PY) -m pytest -p no:cacheprovider -q tests/emulator tests/binary'

template-check: tools
	scripts/check-template.sh --install-guard

## sam build: arm64 bootstrap artifacts, zipped, sizes printed.
build: tools
	scripts/sam-build.sh

## Each function sam built, run once through the runtime emulator.
smoke: tools
	$(PY) tests/emulator/with_emulator.py -- $(PY) tests/binary/smoke.py .aws-sam/build

# ---- demo ------------------------------------------------------------------
demo: tools
	cargo build --workspace --all-targets
	AUTOWIRE_PROVIDER_BOOTSTRAP=$(DEBUG_BIN)/provider AUTOWIRE_CONSUMER_BOOTSTRAP=$(DEBUG_BIN)/consumer \
	  AUTOWIRE_PROBE_BOOTSTRAP=$(DEBUG_BIN)/probe \
	  $(PY) tests/emulator/with_emulator.py -- $(PY) tests/demo/demo.py

# ---- bench -----------------------------------------------------------------
## The probe against 1,000 TCP+TLS targets on loopback: wall time, peak RSS, cold start.
bench: tools
	cargo build --release -p probe
	AUTOWIRE_PROBE_BOOTSTRAP=$(CARGO_TARGET_DIR)/release/probe $(PY) scripts/bench-probe.py

print-venv:
	@echo $(VENV)
