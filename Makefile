# v2xcosim — two-command quick start:  make run   |   make test
# Everything is installed into .venv by this Makefile (Python >= 3.11, a C compiler).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCENARIO ?= scenarios/demo.toml
STAMP := $(VENV)/.installed

.PHONY: help prereqs setup fmus run test lint bench clean

help:
	@echo "make run    set up .venv, build the FMUs, run the default scenario"
	@echo "make test   set up .venv, build the FMUs, run the whole test suite"
	@echo "make lint   ruff + mypy;  make bench  benchmarks -> bench/RESULTS.md"

prereqs:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python >= 3.11 (Debian: sudo apt-get install python3)"; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: Python >= 3.11 is required, found $$($(PYTHON) --version 2>&1); install python3.11 or newer"; exit 2; }
	@$(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 || { echo "error: Python's venv/ensurepip module is missing; install it (Debian: sudo apt-get install python3-venv)"; exit 2; }
	@command -v $${CC:-cc} >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || { echo "error: no C compiler found; the FMU pipeline needs one (Debian: sudo apt-get install gcc)"; exit 2; }

$(STAMP): pyproject.toml | prereqs
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

setup: prereqs $(STAMP)

fmus: setup
	$(VENV)/bin/v2xcosim fmu build

run: fmus
	$(VENV)/bin/v2xcosim demo

test: fmus
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

bench: fmus
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) fmus/*.fmu fmus/.cache build *.egg-info
