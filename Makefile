# prophecis-tui: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCALE  ?= small

.PHONY: demo sim test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
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

## test: everything (unit, adapter against the simulator, kubectl, import contracts)
test: $(VENV)/.installed-test
	$(BIN)/lint-imports
	$(BIN)/pytest

## bench: the performance figures, written to docs/benchmarks.md
bench: $(VENV)/.installed-test
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
