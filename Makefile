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

# The full builds the shipped models are trained on and the benchmarks read (resumable; hours from scratch here).
SZ := $(VENV)/bin/scorezoo
.PHONY: data train-shipped-omr
data: setup
	$(SZ) data build staff
	$(SZ) data distort
	$(SZ) data distort --split validation
	$(SZ) data build staff --recipe staff-incipits --out data/cache/staff-incipits --limit 5571
	$(SZ) data build staff --recipe staff-keys --out data/cache/staff-keys --limit 5571
	$(SZ) data build staff --recipe staff-keys-clefs --out data/cache/staff-keys-clefs --limit 5571
	$(SZ) data build staff --recipe staff-multirests --out data/cache/staff-multirests --limit 2500
	$(SZ) data build genre
	$(SZ) data build genre --recipe genres-large --out data/cache/genre-large
	$(SZ) data build genre --recipe genres-dance --out data/cache/genre-dance
	$(SZ) data build genre --recipe genres-dance-merged --out data/cache/genre-dance-merged

# The shipped omr-resnet-bisru's stages after the 22-minute seed run of bench-omr-train (runs/omr-resnet-bisru):
# continued training on the staff data and its supplements with cosine schedules, two WiSE-FT interpolations, a
# moving average of the weights, then augmentations for spacing, loose margins and bolder ink; last, a sign head on
# the frozen weights. What each stage did and measured: docs/decisions/0002-omr-training-recipe.md (and 0012 for
# the head).
train-shipped-omr: setup
	$(SZ) train omr-resnet-bisru --out runs/omr-resnet-bisru-long --minutes 70 --warm-start runs/omr-resnet-bisru \
	  --set learning_rate=5e-4 --set lr_schedule=cosine --set steps_per_epoch=250 --set val_samples=600 \
	  --set patience=100 --set verbose=2
	$(SZ) train omr-resnet-bisru --out runs/omr-resnet-bisru-incipits --minutes 25 \
	  --warm-start runs/omr-resnet-bisru-long --set learning_rate=3e-4 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 \
	  --set extra_data=data/cache/staff-incipits --set extra_share=0.3 --set verbose=2
	$(SZ) train omr-resnet-bisru --out runs/omr-s6 --minutes 90 \
	  --warm-start runs/omr-resnet-bisru-incipits --set learning_rate=2e-4 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 \
	  --set extra_data=data/cache/staff-incipits --set extra_share=0.15 --set verbose=2
	$(SZ) train omr-resnet-bisru --out runs/omr-s7 --minutes 65 \
	  --warm-start runs/omr-s6 --set learning_rate=1.5e-4 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 \
	  --set extra_data=data/cache/staff-incipits --set extra_share=0.15 --set verbose=2
	$(SZ) train omr-resnet-bisru --out runs/omr-s8 --minutes 70 \
	  --warm-start runs/omr-s7 --set learning_rate=2e-4 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 \
	  --set 'extra_data=["data/cache/staff-incipits","data/cache/staff-keys"]' --set 'extra_share=[0.1,0.3]' \
	  --set verbose=2
	$(SZ) interpolate omr-resnet-bisru runs/omr-s7 runs/omr-s8 --alpha 0.5 --out runs/omr-wise50
	$(SZ) train omr-resnet-bisru --out runs/omr-s9 --minutes 60 \
	  --warm-start runs/omr-wise50 --set learning_rate=1e-4 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 --set ema_decay=0.998 \
	  --set 'extra_data=["data/cache/staff-incipits","data/cache/staff-keys"]' --set 'extra_share=[0.1,0.15]' \
	  --set verbose=2
	$(SZ) train omr-resnet-bisru --out runs/omr-s10 --minutes 60 \
	  --warm-start runs/omr-s9 --set learning_rate=7e-5 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 --set ema_decay=0.998 \
	  --set 'extra_data=["data/cache/staff-incipits","data/cache/staff-keys"]' --set 'extra_share=[0.1,0.15]' \
	  --set verbose=2
	$(SZ) train omr-resnet-bisru --out runs/omr-s11 --minutes 60 \
	  --warm-start runs/omr-s10 --set learning_rate=1e-4 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 --set ema_decay=0.998 \
	  --set 'extra_data=["data/cache/staff-incipits","data/cache/staff-keys"]' --set 'extra_share=[0.1,0.15]' \
	  --set 'width_scale=[0.75,1.5]' --set width_scale_probability=0.5 --set verbose=2
	$(SZ) train omr-resnet-bisru --out runs/omr-s12 --minutes 60 \
	  --warm-start runs/omr-s11 --set learning_rate=5e-5 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 --set ema_decay=0.998 \
	  --set 'extra_data=["data/cache/staff-incipits","data/cache/staff-keys"]' --set 'extra_share=[0.1,0.15]' \
	  --set 'width_scale=[0.75,1.5]' --set width_scale_probability=0.3 --set seed=12 --set verbose=2
	$(SZ) train omr-resnet-bisru --out runs/omr-s17 --minutes 55 \
	  --warm-start runs/omr-s12 --set learning_rate=5e-5 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 --set ema_decay=0.998 \
	  --set 'extra_data=["data/cache/staff-incipits","data/cache/staff-keys"]' --set 'extra_share=[0.1,0.15]' \
	  --set 'width_scale=[0.75,1.5]' --set width_scale_probability=0.3 \
	  --set 'margin=[0,0.3]' --set margin_probability=0.3 --set seed=17 --set verbose=2
	$(SZ) interpolate omr-resnet-bisru runs/omr-s12 runs/omr-s17 --alpha 0.85 --out runs/omr-s17-wise85
	$(SZ) train omr-resnet-bisru --out runs/omr-s20 --minutes 70 \
	  --warm-start runs/omr-s17-wise85 --set learning_rate=5e-5 --set lr_schedule=cosine \
	  --set steps_per_epoch=250 --set val_samples=600 --set patience=100 --set ema_decay=0.998 \
	  --set 'extra_data=["data/cache/staff-incipits","data/cache/staff-keys","data/cache/staff-multirests"]' \
	  --set 'extra_share=[0.1,0.15,0.05]' --set 'width_scale=[0.75,1.5]' --set width_scale_probability=0.3 \
	  --set 'margin=[0,0.3]' --set margin_probability=0.3 --set 'ink=[0,1]' --set ink_probability=0.4 \
	  --set seed=20 --set verbose=2
	$(SZ) interpolate omr-resnet-bisru runs/omr-s17-wise85 runs/omr-s20 --alpha 0.85 --out runs/omr-s20-wise85
	$(SZ) train-signs omr-resnet-bisru runs/omr-s20-wise85 --out runs/omr-signs \
	  --extra-data data/cache/staff-incipits --extra-share 0.1 --extra-data data/cache/staff-keys --extra-share 0.1 \
	  --extra-data data/cache/staff-keys-clefs --extra-share 0.1 --staves 13000 --epochs 8

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

# The hardening defects re-run against a running server (answers, memory before/peak/after) and a bounded
# hypothesis fuzz run over PredictRequests and raw REST requests (about 15 min here).
.PHONY: bench-security
bench-security: setup
	@bash scripts/setup.sh requirements-fuzz.txt
	$(PY) -m benchmarks.security
