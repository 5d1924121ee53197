# prophecis-tui: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCALE  ?= small

.PHONY: demo sim test services bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall when the dependencies change.
# Bytecode is compiled here as pip does for a regular install (an editable one leaves it to the first
# import, which PYTHONDONTWRITEBYTECODE forbids): otherwise every start compiles the console again.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q prophecis_tui backends widgets screens
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

## demo: the console on the simulated platform (it starts and stops its own simulator)
demo: $(VENV)/.installed
	$(BIN)/prophecis-tui --demo

## sim: the simulated platform alone (SCALE=small|large|xlarge), kubeconfig in .venv/sim
sim: $(VENV)/.installed
	$(BIN)/prophecis-tui sim --scale $(SCALE) --write-config $(VENV)/sim

## test: everything (unit, adapter against the simulator, kubectl, real Prometheus and Alertmanager, import contracts)
# Four workers on CI's 2 cores, one test file per worker at a time (a module's real Prometheus, Alertmanager or
# simulator starts once): much of the suite waits (on a simulator's clock, a follow, a poll), so two workers kept
# the cores a third idle; four ran the suite in 267-282 s here against 349 s with two. TEST_WORKERS=0 runs in one
# process. The order files are handed out in is tests/conftest.py's (the longest first).
TEST_WORKERS ?= 4
test: $(VENV)/.installed-test services
	$(BIN)/lint-imports
	$(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

# The real services the tests run (Debian packages), installed when we may: as root, with apt-get, all in one
# go when any is missing (chromium: the browser `prophecis-tui serve` is loaded in; about 16 s with apt-get update
# here). Elsewhere their tests skip, except under CI=true, where they fail.
services:
	@missing=""; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's$$missing for the tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      $$missing >/dev/null; \
	  else echo "not installed and cannot be here:$$missing: their tests will skip"; fi; \
	fi

## bench: the performance figures, written to docs/benchmarks.md
bench: $(VENV)/.installed-test
	$(BIN)/python -m compileall -q prophecis_tui backends widgets screens tests
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
