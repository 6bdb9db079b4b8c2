# Tidewatch developer entry points. Each target installs what it needs first, so a
# fresh machine goes from clone to result with one command.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: up test check lint types install install-test system-deps bench gameday jepsen clean generate

## up: install the runtime and start the embedded default (broker + friends)
up: install
	$(BIN)/tidewatch up

## test: install system and Python test dependencies, then lint, type-check and test
test: install-test check

# The suite runs in two parts: most tests spread over PYTEST_WORKERS processes
# (pytest-xdist, a test file per worker at a time), then the `serial` ones alone.
PYTEST_WORKERS ?= 2

check: lint types
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not serial"; parallel=$$?; \
	$(BIN)/pytest -q -m serial; serial=$$?; \
	test $$parallel -eq 0 && test $$serial -eq 0

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

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

## generate: regenerate every committed generated file (dashboards, alert pack, SLO rules)
generate: install
	$(BIN)/tidewatch generate

## bench: the broker benchmark against a Redis Streams peer (prints figures, writes JSON)
bench: install-test
	$(BIN)/tidewatch bench --json artifacts/bench.json

## gameday: run every shipped game-day scenario (scorecards in artifacts/gameday/NAME)
gameday: install-test
	for f in loadtest/scenarios/*.yaml; do \
		$(BIN)/tidewatch gameday run $$f --no-progress -o artifacts/gameday/$$(basename $$f .yaml) || exit 1; \
	done

## jepsen: seeded fault schedules against a three-broker cluster, each checked Jepsen-style
## (report in artifacts/jepsen; JEPSEN_SEED and JEPSEN_RUNS pick the seeds)
JEPSEN_SEED ?= 1
JEPSEN_RUNS ?= 20
jepsen: install-test
	$(BIN)/tidewatch gameday jepsen --seed $(JEPSEN_SEED) --runs $(JEPSEN_RUNS) -o artifacts/jepsen

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
