# dive — every target a newcomer needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dive-installed
PROFILE ?= quick
# Extra papermill parameters for `make report`, e.g. PARAMS="-p data_flag dermamnist -p epochs 5"
PARAMS ?=

.PHONY: help setup test test-fast bench data report lab clean

help:
	@echo "make setup    create .venv and install dive with its pinned dependencies"
	@echo "make test     run the test suite (sets up first)"
	@echo "make report   run every notebook with PROFILE=$(PROFILE), render HTML + PDF into reports/$(PROFILE)/"
	@echo "make lab      start JupyterLab with the dive kernel"
	@echo "make data     fetch (when online) and verify the datasets the report needs"
	@echo "make bench    throughput of dive's batches against a DataLoader pipeline"
	@echo "make clean    remove generated reports and caches (keeps .venv and data/)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name dive --display-name "Python (dive)" >/dev/null
	@touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m benchmarks.throughput $(BENCH_ARGS)

data: setup
	$(BIN)/python -m dive.data $(DATASETS)

report: setup
	$(BIN)/python -m dive.report --profile $(PROFILE) $(PARAMS)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf reports/smoke reports/quick reports/full reports/bench.json .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
