# Two commands do all set-up on a fresh Debian machine with Python 3.11:
#   make demo   - creates .venv, installs tracehop, runs the demo on the embedded default
#   make test   - also installs the dev tools and the system packages the tests use, runs the suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# Debian packages the demo needs: Pango, HarfBuzz and fonts for the PDF reports (WeasyPrint).
DEMO_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
# Debian packages the test suite needs (real servers on loopback, never mocks); poppler-utils
# (pdftoppm, pdftotext) to look at and check the PDFs; Java 17 for Spark in local mode (the
# engine equivalence tests, tests/test_engine_spark.py).
TEST_DEBS := postgresql poppler-utils chromium secsipidx kamailio kamailio-secsipid-modules sip-tester \
	openjdk-17-jre-headless $(DEMO_DEBS)
# ... and those some benchmarks need (wrk loads the HTTP verifiers of bench-shaken).
BENCH_DEBS := wrk
DEBS ?= $(TEST_DEBS)
DEMO_HOME ?= demo-home

.PHONY: demo demo-deps test test-fast lock lint format bench bench-ingest bench-lookup bench-hub bench-detect bench-cli bench-shaken bench-screen bench-screen-sip bench-web bench-scale system-deps clean docs-cli

# Debian ships venv separately (python3-venv): install it as root when it is missing.
$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && \
	    $(PYTHON) -m venv $(VENV); \
	  else echo "python -m venv failed: install python3-venv (sudo apt-get install python3-venv)"; exit 1; fi; }
	$(PIP) install --quiet --upgrade pip

# constraints.txt pins every package to the versions the suite last passed with (make lock).
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

# The tests run every engine: the spark extra (pyspark, about 650 MB) is part of the dev install.
$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[dev,postgres,spark,s3]'
	touch $@ $(VENV)/.installed

# Upgrade the pins: the newest versions pyproject.toml allows, in a throwaway venv; then run
# `make test` and commit constraints.txt if it passes (docs/security.md, "Dependencies").
lock: | $(BIN)/python
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev,postgres,spark,s3]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | sort > constraints.txt
	rm -rf .lock-venv

# As root (CI, a fresh machine) install what the tests (or the demo) use; otherwise say what
# is missing.
define install_debs
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "$(2) need Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; fi; \
	fi
endef

system-deps:
	$(call install_debs,$(DEBS),tests)

demo-deps:
	$(call install_debs,$(DEMO_DEBS),the demo's PDF reports)

demo: $(VENV)/.installed demo-deps
	$(BIN)/tracehop demo --out $(DEMO_HOME)

test: $(VENV)/.installed-dev system-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n auto -q

# The quick loop while working: no slow modules, no PostgreSQL runs, stop at the first failure.
test-fast: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n auto -q -x -m "not slow and not postgres"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: bench-ingest bench-lookup bench-hub bench-detect bench-cli bench-shaken bench-screen bench-screen-sip bench-web bench-scale

bench-ingest: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/ingest.py $(BENCH_ARGS)

bench-lookup: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/lookup.py $(BENCH_ARGS)

bench-hub: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/hub.py $(BENCH_ARGS)

bench-detect: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/detect.py $(BENCH_ARGS)

# The dashboard over the 10 M-row home that bench-detect's lake gives (kept in BENCH_HOME).
BENCH_HOME ?= .bench
bench-web: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/detect.py --sizes 10000000 --keep $(BENCH_HOME)
	$(BIN)/python benchmarks/web.py --home $(BENCH_HOME)/home-10000000 $(BENCH_ARGS)

# DuckDB against Spark local[2] on the same lake (Java 17 comes with system-deps).
bench-scale: $(VENV)/.installed-dev system-deps
	$(BIN)/python benchmarks/scale.py $(BENCH_ARGS)

bench-cli: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/cli.py $(BENCH_ARGS)

# secsipidx is the baseline of the STIR/SHAKEN benchmark; wrk loads the HTTP verifiers.
bench-shaken: $(VENV)/.installed-dev
	$(MAKE) --no-print-directory system-deps DEBS="$(TEST_DEBS) $(BENCH_DEBS)"
	$(BIN)/python benchmarks/shaken.py $(BENCH_ARGS)

bench-screen: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/screen.py $(BENCH_ARGS)

# SIPp against the redirect server and against Kamailio alone (BENCH_ARGS: SECONDS RATES...)
bench-screen-sip: $(VENV)/.installed-dev system-deps
	PY=$(CURDIR)/$(BIN)/python benchmarks/screen_sip.sh $(BENCH_ARGS)

docs-cli: $(VENV)/.installed
	$(BIN)/python -m tracehop.cli.docgen > docs/cli.md.tmp && mv docs/cli.md.tmp docs/cli.md

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache .ruff_cache .hypothesis
