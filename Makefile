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

.PHONY: help tools venv rust-target emulator test test-rust test-testbed lint template-check build demo bench fmt clippy clean-cache

help:
	@echo "make demo      provider publication through the real binary, on the emulator"
	@echo "make test      every test: unit, wire (emulator), binaries (runtime emulator), template"
	@echo "make emulator  the AWS test bed alone, in the foreground, on 127.0.0.1:$(EMULATOR_PORT)"
	@echo "make bench     benchmarks"

# ---- tools -----------------------------------------------------------------
tools: venv rust-target

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

print-venv:
	@echo $(VENV)
