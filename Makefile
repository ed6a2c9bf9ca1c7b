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
.PHONY: bench-genre bench-serving bench-omr bench-omr-train
bench-genre: setup
	$(PY) -m benchmarks.genre

# Trains the seed model, the CRNN baseline and both ablations one after another, each for OMR_MINUTES
# (about 4 × 25 min here), into runs/omr-*; bench-omr then evaluates them (the two shipped models without runs/).
OMR_MINUTES ?= 22
bench-omr-train: setup
	$(PY) -m benchmarks.omr train --minutes $(OMR_MINUTES)

bench-omr: setup
	$(PY) -m benchmarks.omr

bench-serving: setup
	$(PY) -m benchmarks.serving
