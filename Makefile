# Two commands do all the set-up: `make demo` runs the demo, `make test` runs the checks.
# Each builds its own virtual environment in .venv (created once, refreshed when pyproject changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench gpu-check clean

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

# The CUDA checks (benches/gpu_check.py), for a GPU machine: no virtual environment, no install,
# no network; the Python there needs torch, rich, psutil, nvidia-ml-py, torchmetrics and
# scikit-learn. Without CUDA it says so and exits 0. E.g. make gpu-check ARGS="--markdown".
gpu-check:
	PYTHONPATH=. $(PYTHON) benches/gpu_check.py $(ARGS)

clean:
	rm -rf $(VENV)
