# Two commands on a fresh machine (Python 3.11+; nothing else to set up):
#   make run    installs the adapter into .venv and serves FHIR R4 on http://127.0.0.1:8080 (SQLite under ./data)
#   make test   installs the test tools (and chromium, when missing and allowed) and runs lint, type checks
#               and the whole test suite
#   make mutation  mutation testing of adapter/domain/ and the measures' pure core (monitoring/report.py,
#                  rules.py) with their pure tests (not part of `make test`)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint bench profiles mutation

$(BIN)/voorzorg-adapter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/voorzorg-adapter
	$(BIN)/voorzorg-adapter serve --host $(HOST) --port $(PORT)

lint: $(BIN)/voorzorg-adapter
	$(BIN)/ruff check .
	$(BIN)/mypy

# the dashboard's browser test needs chromium: installed when missing and allowed (scripts/ensure-chromium.sh)
test: lint
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest -n 3 --durations=25

# mutmut keeps its mutants and results under mutants/; a fresh copy each run, so every mutant is judged
# against the code and tests as they are now. One worker: the machine has 2 cores and is shared.
mutation: $(BIN)/voorzorg-adapter
	rm -rf mutants
	VOORZORG_HYPOTHESIS_PROFILE=mutation $(BIN)/mutmut run --max-children 1
	$(BIN)/python tests/domain/mutation_report.py

bench: $(BIN)/voorzorg-adapter
	$(BIN)/python -m bench

profiles:
	bash profiles/scripts/build.sh
