# Set-up and entry points. Every target creates the virtual environment first if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED := 0

.PHONY: setup run lint test bench review-curve repro-check holdout clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	dvc repro
	dvc status

lint: $(STAMP)
	$(BIN)/ruff check src stages tests benchmarks

test: lint
	$(BIN)/python -m pytest -ra

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --out metrics/bench.json

review-curve: $(STAMP)
	$(BIN)/python benchmarks/review_curve.py --out metrics/review_curve.json

# A fresh clone of HEAD runs `make run` (its own .venv); its dvc.lock must equal the committed one byte for
# byte. TOLERANT=1 compares metrics within tolerances instead (GPU, ARM, fewer cores than common.threads).
repro-check: $(STAMP)
	$(BIN)/python -m tilescan.repro_check $(if $(TOLERANT),--tolerant)

clean:
	rm -rf data models dvclive reports
