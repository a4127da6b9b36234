# Two commands do everything from a fresh clone:
#   make demo   set up, build the demo data and demo checkpoint suite, run xtreme-eval on them
#   make test   set up and run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; the package itself only asks for a range.
TORCH_PIN ?= torch==2.13.0
# The oldest lm-eval the package allows (pyproject.toml), kept beside the venv for the floor test.
LMEVAL_FLOOR ?= 0.4.12
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

$(VENV)/lm-eval-floor/.installed: $(BIN)/python
	$(BIN)/pip install -q --no-deps --target $(VENV)/lm-eval-floor "lm-eval==$(LMEVAL_FLOOR)"
	touch $@

setup: $(VENV)/.installed $(VENV)/lm-eval-floor/.installed

demo: setup
	$(BIN)/python -m xtreme_harness.demo run --out demo

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/bench_engine.py

clean:
	rm -rf $(VENV) demo .pytest_cache
