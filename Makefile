# The two entry points from the README: `make demo` and `make test`.
# Each creates .venv on first use and installs the project with its dev extra.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-matrix lint typecheck unit bench bench-verify bench-telemetry bench-revocations bench-http bench-scale bench-flows load fuzz fuzz-websocket clean docs docs-serve test-browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install --quiet -e '.[dev]'
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

# The unit suite (all but the integration tests) on the other supported Pythons, each in a
# virtualenv of its own (.venv-3.12, ...); the interpreters come from pyenv or the PATH.
MATRIX ?= 3.12 3.13
# The one Python of the matrix that runs without the speedups extra (binascii decodes).
MATRIX_PLAIN ?= 3.13
test-matrix:
	@set -e; for v in $(MATRIX); do \
	  py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python 2>/dev/null | sort -V | tail -n 1); \
	  [ -n "$$py" ] || py=$$(command -v python$$v || true); \
	  [ -n "$$py" ] || { echo "Python $$v not found (pyenv or PATH)" >&2; exit 1; }; \
	  venv=.venv-$$v; \
	  if [ ! -f $$venv/.installed ] || [ pyproject.toml -nt $$venv/.installed ]; then \
	    rm -rf $$venv && $$py -m venv $$venv && \
	    $$venv/bin/python -m pip install --quiet --upgrade pip && \
	    $$venv/bin/python -m pip install --quiet -e '.[dev]' && \
	    if [ "$$v" = "$(MATRIX_PLAIN)" ]; then $$venv/bin/python -m pip uninstall --quiet -y pybase64; fi && \
	    touch $$venv/.installed; \
	  fi; \
	  echo "== unit suite on $$($$venv/bin/python --version)$$([ "$$v" = "$(MATRIX_PLAIN)" ] && echo ', without the speedups extra')"; \
	  $$venv/bin/python -m pytest -q -m "not integration" -p no:cacheprovider; \
	done

# The floor, this library and three peers in one run; the peers and matplotlib live in a
# virtualenv of their own, .bench-venv, which benchmarks/compare.py makes on first use.
bench:
	$(PYTHON) benchmarks/compare.py

# This library against the RS256 floor alone, judged against its targets (exit 1 if missed),
# also with the revocation list on its Redis backend (starts Debian's redis-server).
bench-verify: $(STAMP)
	$(BIN)/python benchmarks/bench_verify.py --redis-server

# RSS of 1 000 000 revocations held in memory (target < 150 MB per replica).
bench-revocations: $(STAMP)
	$(BIN)/python benchmarks/revocation_memory.py

# What the metrics' counting costs verify (cache hit and full path), with and without it, in
# one run; `python benchmarks/bench_telemetry.py --sdk` with the OpenTelemetry SDK installed.
bench-telemetry: $(STAMP)
	$(BIN)/python benchmarks/bench_telemetry.py --rounds 40 --repeats 2000

# The bearer's cost per HTTP request, in-process and over loopback with uvicorn (about 2 min).
bench-http: $(STAMP)
	$(BIN)/python benchmarks/http_bench.py

# RSS growth while 100 000 distinct tokens are each verified twice (default token_cache_size),
# per cached token, exit 1 above 64 MB; then a cProfile of verify, distinct and repeated tokens
# (about 1 min). `python benchmarks/scale.py --only memory --tokens 1000000` for the 1M figure.
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

# CognitoAuthClient against boto3 (direct and via a thread) and aioboto3 on a local stub of
# Cognito's API, 1 and 50 calls in flight; exit 1 if a target is missed (about 3 min). The
# peers live in .bench-flows-venv, which benchmarks/bench_flows.py makes on first use.
bench-flows:
	$(PYTHON) benchmarks/bench_flows.py

# 60 s of mixed valid, expired and garbage tokens against the example app under uvicorn.
load: $(STAMP)
	$(BIN)/python benchmarks/load.py

# 100 000 fuzzed Authorization headers and tokens through the bearer; prints its counts.
fuzz: $(STAMP)
	$(BIN)/python -m fuzz.run

# 100 000 fuzzed WebSocket handshakes through CognitoWebSocketBearer; prints its counts.
fuzz-websocket: $(STAMP)
	$(BIN)/python -m fuzz.websocket

# The documentation site (mkdocs, Material, mkdocstrings): built offline into site/, every
# warning an error; docs-serve rebuilds on change at http://127.0.0.1:8000.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

# Swagger UI sign-in end to end: Playwright drives Debian's chromium (/usr/bin/chromium, which
# .ci/run installs; no browser is downloaded) against the app and a stand-in managed login.
test-browser: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m browser tests/browser

clean:
	rm -rf $(VENV) .venv-3.* .bench-venv .bench-flows-venv site .coverage .mypy_cache .pytest_cache .ruff_cache build dist
