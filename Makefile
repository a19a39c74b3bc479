# v2xcosim — two-command quick start:  make run   |   make test
# Everything is installed into .venv by this Makefile (Python >= 3.11, a C compiler).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

REF_MODELS := EV EVDetailed Battery ChargerReduced ChargerDetailed Terminal
REF_SOURCES := models/V2X models/fmus.toml

.PHONY: help prereqs setup fmus regress references run browser test lint bench clean

help:
	@echo "make run    set up .venv, build the FMUs, run the default scenario"
	@echo "make test   set up .venv, build the FMUs, run the whole test suite"
	@echo "make lint   ruff + mypy;  make bench  benchmarks -> bench/RESULTS.md"
	@echo "make regress                 check every built FMU against its reference in fmus/<Model>/"
	@echo "make references REASON=...   regenerate those references (records reason, date, hashes)"

prereqs:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python >= 3.11 (Debian: sudo apt-get install python3)"; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: Python >= 3.11 is required, found $$($(PYTHON) --version 2>&1); install Python >= 3.11 (Debian 12 / Ubuntu 24.04 and newer: sudo apt-get install python3) or point PYTHON at one, e.g. make PYTHON=python3.12"; exit 2; }
	@$(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 || { echo "error: Python's venv/ensurepip module is missing; install it (Debian: sudo apt-get install python3-venv)"; exit 2; }
	@if [ -n "$$CC" ]; then command -v "$$CC" >/dev/null 2>&1 || { echo "error: CC=$$CC is not a command; set CC to an installed C compiler or unset it (Debian: sudo apt-get install gcc)"; exit 2; }; \
	else command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1 || { echo "error: no C compiler found; the FMU pipeline needs one (Debian: sudo apt-get install gcc)"; exit 2; }; fi

$(STAMP): pyproject.toml | prereqs
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

setup: prereqs $(STAMP)

fmus: setup
	$(VENV)/bin/v2xcosim fmu build

# Regression check of every project FMU against its committed reference (exit 1 on a deviation).
regress: fmus
	@for m in $(REF_MODELS); do \
	  echo "== $$m"; \
	  $(VENV)/bin/v2xcosim fmu regress fmus/$$m.fmu fmus/$$m --sources $(REF_SOURCES) --report results/regress/$$m || exit $$?; \
	done

references: fmus
	@test -n "$(REASON)" || { echo 'error: say why the references change: make references REASON="..."'; exit 2; }
	$(PY) fmus/refs.py
	@for m in $(REF_MODELS); do \
	  $(VENV)/bin/v2xcosim fmu regress fmus/$$m.fmu fmus/$$m --update --reason "$(REASON)" --sources $(REF_SOURCES) || exit $$?; \
	done

# The run, its uncontrolled comparison beside it (<RUN_OUT>-uncontrolled), and an HTML report of
# each (the run's against the comparison); `v2xcosim report` prints each report's path.
RUN_OUT := results/terni_v2g-$(shell date -u +%Y%m%dT%H%M%SZ)

run: fmus
	$(VENV)/bin/v2xcosim run scenarios/terni_v2g.toml --compare uncontrolled --out $(RUN_OUT)
	$(VENV)/bin/v2xcosim report $(RUN_OUT) --baseline $(RUN_OUT)-uncontrolled
	$(VENV)/bin/v2xcosim report $(RUN_OUT)-uncontrolled

# The report's browser test (tests/test_report_html.py) drives Debian's chromium: installed here
# when it is missing and make runs as root with apt-get; otherwise nothing happens and the test
# skips, saying what to install.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium (apt-get) for the report's browser test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq chromium >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
	  || echo "chromium could not be installed; the browser test will be skipped"; \
	fi

# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file at a time per worker, so
# a module's fixtures (e.g. the Terni default day under three strategies) run once;
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

test: regress lint browser
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=40

lint: setup
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) tests/architecture.py

bench: fmus
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) fmus/*.fmu fmus/.cache build *.egg-info
