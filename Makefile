# Tidewatch developer entry points. Each target installs what it needs first, so a
# fresh machine goes from clone to result with one command.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: up test check lint types install install-test system-deps bench clean generate

## up: install the runtime and start the embedded default (broker + friends)
up: install
	$(BIN)/tidewatch up

## test: install system and Python test dependencies, then lint, type-check and test
test: install-test check

check: lint types
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(BIN)/python
	$(PIP) install --quiet -e .

install-test: system-deps $(BIN)/python
	$(PIP) install --quiet -e '.[test]'

system-deps:
	./scripts/install-system-deps.sh

## generate: regenerate the committed dashboards and alerting files
generate: install
	$(BIN)/tidewatch dashboards build -o dashboards/generated
	$(BIN)/tidewatch alerts build -o alerts/generated

## bench: the broker benchmark against a Redis Streams peer (prints figures, writes JSON)
bench: install-test
	$(BIN)/tidewatch bench --json artifacts/bench.json

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
