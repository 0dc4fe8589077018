# elbus monorepo: `make test` and `make run` set everything up themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := spec
STAMP := $(VENV)/.setup-stamp
PYPROJECTS := $(wildcard */pyproject.toml)

.PHONY: setup test codegen codegen-check lint dist bench run clean

setup: $(STAMP)

$(STAMP): requirements-dev.txt $(PYPROJECTS) Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt $(foreach p,$(PACKAGES),-e ./$(p))
	@touch $@

test: setup codegen-check
	$(BIN)/python -m pytest

codegen: setup
	$(BIN)/python -m elbus_spec.codegen

codegen-check: setup
	$(BIN)/python -m elbus_spec.codegen --check

lint: setup
	$(BIN)/ruff check .

dist: setup
	rm -rf dist
	$(foreach p,$(PACKAGES),$(BIN)/python -m build -q --outdir dist ./$(p) &&) true

bench: setup
	$(BIN)/python spec/benchmarks/bench_codec.py

run:
	@echo "The broker (server/) is not built yet: there is nothing to run."; exit 1

clean:
	rm -rf $(VENV) dist site .pytest_cache .hypothesis
