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

# The page for people who do not write code, on http://127.0.0.1:8080/ with the models in this process
# (`scorezoo web --server HOST:PORT` uses a model server instead). `make screenshots` drives it in headless
# chromium and keeps the screenshots of each state in benchmarks/results/web/.
.PHONY: web screenshots
WEB_PORT ?= 8080
web: setup
	$(SZ) web --port $(WEB_PORT)

screenshots: setup
	SCOREZOO_SCREENSHOTS=benchmarks/results/web $(PY) -m pytest tests/web -k browser

# Re-pin requirements.lock from requirements.in within the verified package set.
lock:
	uv pip compile requirements.in --python-version 3.10 \
	  -c ../shared/reference/verified-freeze-py310.txt \
	  --custom-compile-command "make lock" -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# The full builds the shipped models are trained on and the benchmarks read (resumable; hours from scratch here).
SZ := $(VENV)/bin/scorezoo
.PHONY: data train-shipped-omr train-shipped-retrieval
data: setup
	$(SZ) data build staff
	$(SZ) data distort
	$(SZ) data distort --split validation
	$(SZ) data build staff --recipe staff-incipits --out data/cache/staff-incipits --limit 5571
	$(SZ) data build staff --recipe staff-keys --out data/cache/staff-keys --limit 5571
	$(SZ) data build staff --recipe staff-keys-clefs --out data/cache/staff-keys-clefs --limit 5571
	$(SZ) data build staff --recipe staff-multirests --out data/cache/staff-multirests --limit 2500
	$(SZ) data build staff --recipe staff-engravers --out data/cache/staff-engravers --limit 2500
	$(SZ) data build staff --recipe staff-markings --out data/cache/staff-markings --limit 2000
	$(SZ) data build genre
	$(SZ) data build genre --recipe genres-large --out data/cache/genre-large
	$(SZ) data build genre --recipe genres-dance --out data/cache/genre-dance
	$(SZ) data build genre --recipe genres-dance-merged --out data/cache/genre-dance-merged
	$(SZ) data build genre --recipe genres-rooms --out data/cache/genre-rooms
	$(SZ) data build pairs

# The shipped omr-resnet-bisru, stage by stage, from its recipe (zoo/training/recipes/omr-resnet-bisru.json):
# the 22-minute seed run, continued training on the staff data and its supplements, two WiSE-FT interpolations,
# augmentations for spacing, margins and ink, and a sign head. Resumes where it stopped; about 14 hours here.
train-shipped-omr: setup
	$(SZ) recipe run omr-resnet-bisru

# The shipped retrieval models (docs/decisions/0020-retrieval.md): retrieval-dual end to end, then retrieval-gcn's
# graph and shared layers on its frozen trunks. About 50 minutes here.
train-shipped-retrieval: setup
	$(SZ) train retrieval-dual --out runs/retrieval-dual --epochs 12 --minutes 45
	$(SZ) train retrieval-gcn --out runs/retrieval-gcn --set train.init=runs/retrieval-dual --epochs 40 --minutes 12

# The shipped generators (docs/decisions/0021-generation.md) on the genre build's event sequences: gen-lstm 4 × 400
# for 12,800 iterations (about 3 h; the best by validation NLL is kept; its checkpoints draw the seed's Figs. 3-4),
# then the RNN-RBM baseline (20-minute cap; its frame accuracy stays 0 for the first ~600 iterations, hence the
# patience). --ship copies weights + manifest.
.PHONY: train-shipped-generation
GENRE_DATA := data/cache/genre-dance-merged
train-shipped-generation: setup
	$(SZ) train gen-lstm --data $(GENRE_DATA) --out runs/gen-lstm --set train.steps=12800 --set train.minutes=200 \
	  --set train.patience=1000 --ship
	$(SZ) train gen-rbm --data $(GENRE_DATA) --out runs/gen-rbm --set train.steps=8000 --set train.eval_every=100 \
	  --set train.patience=10 --set train.minutes=20 --ship

# Benchmarks (one run each; results go to BENCHMARKS.md and benchmarks/results/).
.PHONY: bench-genre bench-serving bench-omr bench-omr-train
bench-genre: setup
	$(PY) -m benchmarks.genre --real-inputs

# Trains the seed model, the CRNN baseline and both ablations one after another, each for OMR_MINUTES
# (about 4 × 25 min here), into runs/omr-*; bench-omr then evaluates them (the two shipped models without runs/).
OMR_MINUTES ?= 22
bench-omr-train: setup
	$(PY) -m benchmarks.omr train --minutes $(OMR_MINUTES)

bench-omr: setup
	$(PY) -m benchmarks.omr

bench-serving: setup
	$(PY) -m benchmarks.serving

# Recognition on staves framed as people crop them (paper above, below, left, right), and on 300 of them re-engraved
# by LilyPond and MuseScore 3 and by Verovio with lyrics and markings (kept under the data folder), shipped model
# and baseline.
.PHONY: bench-real-inputs
bench-real-inputs: setup
	$(PY) -m benchmarks.real_inputs

# Audio <-> sheet retrieval: snippets at 2,000 test candidates (retrieval-gcn, retrieval-dual, CCA), piece
# identification on held-out recordings and scores, and the cost of a query. bench-retrieval-train first retrains
# the ablations (graph size k, no ranking term) into runs/retrieval-* (about 30 min here).
.PHONY: bench-retrieval bench-retrieval-train
bench-retrieval-train: setup
	$(PY) -m benchmarks.retrieval train

bench-retrieval: setup
	$(PY) -m benchmarks.retrieval

# Generation: genre control by genre-cnn (200 clips per genre and model), closeness to held-out music (Yang &
# Lerch statistics, Fréchet distance), originality and the same-song comparison (about 30 min here).
# `make figures` trains what the seed paper's Figs. 3-6 need (runs/gen-lstm-*; hours, resumable) and draws them.
.PHONY: bench-generation figures
bench-generation: setup
	$(PY) -m benchmarks.generation

figures: setup
	$(PY) -m benchmarks.generation sweep
	$(PY) -m benchmarks.generation figures

# The hardening defects re-run against a running server (answers, memory before/peak/after) and a bounded
# hypothesis fuzz run over PredictRequests and raw REST requests (about 15 min here).
.PHONY: bench-security
bench-security: setup
	@bash scripts/setup.sh requirements-fuzz.txt
	$(PY) -m benchmarks.security
