# dive — every target a newcomer needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dive-installed
PROFILE ?= quick
# Extra papermill parameters for `make report`, e.g. PARAMS="-p data_flag dermamnist -p epochs 5"
PARAMS ?=
# How `make report` prints report.pdf: weasyprint (a Python dependency) or chromium (a headless Chromium on PATH)
PDF_ENGINE ?= weasyprint
# Where the notebooks' runs execute: EXECUTOR=ray (with RAY_ADDRESS=auto or ray://host:10001) hands them to Ray.
EXECUTOR ?=
RAY_ADDRESS ?=
# `make report JOBS=2`: two notebooks at a time, each in its own kernel with its share of the cores
# (THREADS=N: torch threads per kernel instead).
JOBS ?= 1
THREADS ?=
# `make lab`: JupyterLab refuses to run as root without --allow-root, so it is passed for root (and only then).
# LAB_ARGS for more options, e.g. LAB_ARGS="--ip 0.0.0.0 --no-browser" on a remote machine.
USER_ID ?= $(shell id -u)
LAB_ARGS ?=
LAB_ROOT_FLAG := $(if $(filter 0,$(USER_ID)),--allow-root)
LINT_PATHS := dive tests benchmarks notebooks

.PHONY: help setup test test-fast test-ray-report lint bench data report lab clean clean-runs

help:
	@echo "make setup    create .venv and install dive with its pinned dependencies"
	@echo "make test     run the test suite (sets up first)"
	@echo "make test-fast  unit tests only: no notebook runs, no real data, no Ray (minutes, not the 20 of make test)"
	@echo "make test-ray-report  the smoke report of every notebook through Ray against the local one (about 10 minutes)"
	@echo "make lint     ruff check + ruff format --check over $(LINT_PATHS)"
	@echo "make report   run every notebook with PROFILE=$(PROFILE), render HTML + PDF ($(PDF_ENGINE)) into reports/$(PROFILE)/"
	@echo "make lab      start JupyterLab with the dive kernel"
	@echo "make data     fetch (when online) and verify the datasets the report needs"
	@echo "make bench    throughput of dive's batches against a DataLoader pipeline (cases a, c-g; --slow adds b)"
	@echo "              BENCH_ARGS=\"--cases h\": time to the published accuracy, dive vs MedMNIST's protocol (PneumoniaMNIST)"
	@echo "make clean    remove generated reports and caches (keeps .venv, data/ and the run store reports/*/runs/)"
	@echo "make clean-runs  remove the run store too (every trained run is then trained again)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name dive --display-name "Python (dive)" >/dev/null
	@touch $(STAMP)

# --durations=25: every run (and every CI log) ends with the 25 slowest tests.
test: setup
	$(BIN)/python -m pytest -q -ra --durations=25 $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -ra -m "not notebooks and not realdata and not ray" $(PYTEST_ARGS)

# The same test as in `make test`, over every notebook that trains instead of 02 and 09.
test-ray-report: setup
	DIVE_TEST_RAY_REPORT=all $(BIN)/python -m pytest -q -ra tests/test_ray.py -k every_table $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

bench: setup
	$(BIN)/python -m benchmarks.throughput $(BENCH_ARGS)

data: setup
	$(BIN)/python -m dive.data $(DATASETS)

report: setup
	$(BIN)/python -m dive.report --profile $(PROFILE) --pdf-engine $(PDF_ENGINE) --jobs $(JOBS) $(if $(THREADS),--threads $(THREADS)) \
	  $(if $(EXECUTOR),-p executor $(EXECUTOR)) $(if $(RAY_ADDRESS),-p ray_address $(RAY_ADDRESS)) $(PARAMS)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ROOT_FLAG) $(LAB_ARGS)

# The run store (reports/<profile>/runs/: finished and interrupted training runs) survives `make clean`.
clean:
	for p in smoke quick full; do \
	  [ -d reports/$$p ] && find reports/$$p -mindepth 1 -maxdepth 1 ! -name runs -exec rm -rf {} +; \
	done; true
	rm -rf reports/bench.json .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-runs:
	rm -rf reports/smoke/runs reports/quick/runs reports/full/runs
