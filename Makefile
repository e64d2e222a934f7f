# Two commands on a fresh machine (see README):
#   make demo   set up, then run both apps on SQLite with sample cases and a printed login
#   make test   set up, then run every test on SQLite and on PostgreSQL
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test check lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# Test-only JavaScript tools pinned in package-lock.json (axe-core for tests/test_accessibility.py).
node_modules/.installed: package.json package-lock.json
	command -v npm >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null)
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

demo: $(BIN)/.installed
	$(BIN)/reprisals demo

test: lint
	scripts/ensure-services
	$(MAKE) node_modules/.installed
	RRI_TEST_DB=sqlite $(BIN)/python -m pytest
	RRI_TEST_DB=postgres $(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests

# The fast loop: lint, types and every test not marked slow, on SQLite; about a minute and a half
# on two cores. Servers, browsers, subprocess CLIs and Node are marked slow and run in `make test`.
check: lint
	RRI_TEST_DB=sqlite $(BIN)/python -m pytest -q -m "not slow"

bench: $(BIN)/.installed
	$(BIN)/python bench/crypto_throughput.py
	$(BIN)/python bench/reporter_flow.py
	$(BIN)/python bench/inbox_latency.py

clean:
	rm -rf $(VENV) demo-instance .pytest_cache .hypothesis
