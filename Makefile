# scorezoo — `make run` runs the main job, `make test` the test suite; both set up first.
SHELL := /bin/bash
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export UV_PYTHON_DOWNLOADS := never
VENV ?= .venv
PY := $(VENV)/bin/python
SZ := $(VENV)/bin/scorezoo
PYTEST_ARGS ?=

.PHONY: setup run test lint lock clean

setup:
	@bash scripts/setup.sh

run: setup
	$(SZ) models
	bash scripts/demo.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

# Re-pin requirements.lock from requirements.in within the verified package set.
lock:
	uv pip compile requirements.in --python-version 3.10 \
	  -c ../shared/reference/verified-freeze-py310.txt \
	  --custom-compile-command "make lock" -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# Benchmarks (one run each; results go to BENCHMARKS.md and benchmarks/results/).
.PHONY: bench-genre bench-serving
bench-genre: setup
	$(PY) -m benchmarks.genre

bench-serving: setup
	$(PY) -m benchmarks.serving
