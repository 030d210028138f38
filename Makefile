# Two commands do all the set-up: `make demo` runs the demo, `make test` runs the checks.
# Each builds its own virtual environment in .venv (created once, refreshed when pyproject changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/digits.py $(ARGS)

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check burnish tests examples benches
	$(BIN)/ruff format --check burnish tests examples benches

typecheck: $(STAMP)
	$(BIN)/mypy --strict burnish

unit: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benches/metrics.py
	$(BIN)/python benches/learner.py
	$(BIN)/python benches/render.py
	$(BIN)/python benches/overhead.py

clean:
	rm -rf $(VENV)
