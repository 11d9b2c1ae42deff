# The two entry points from the README: `make demo` and `make test`.
# Each creates .venv on first use and installs the project with its dev extra.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench load fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict

unit: $(STAMP)
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_verify.py

# 60 s of mixed valid, expired and garbage tokens against the example app under uvicorn.
load: $(STAMP)
	$(BIN)/python benchmarks/load.py

# 100 000 fuzzed Authorization headers and tokens through the bearer; prints its counts.
fuzz: $(STAMP)
	$(BIN)/python -m fuzz.run

clean:
	rm -rf $(VENV) .coverage .mypy_cache .pytest_cache .ruff_cache build dist
