# Set-up and entry points. Every target creates the virtual environment first if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED := 0

.PHONY: setup fonts run lint test bench bench-scale review-curve repro-check holdout clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Debian font packages: the detector composites lettering with FreeFont and URW base35; the holdout synthetic
# style draws with Liberation. Installed here when missing and running as root, else named in one line.
FONT_PACKAGES := fonts-freefont-ttf:/usr/share/fonts/truetype/freefont fonts-urw-base35:/usr/share/fonts/opentype/urw-base35 \
	fonts-liberation:/usr/share/fonts/truetype/liberation
fonts:
	@missing=""; for entry in $(FONT_PACKAGES); do test -d "$${entry#*:}" || missing="$$missing $${entry%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "error: missing font packages; run: sudo apt-get install$$missing" >&2; exit 1; fi; \
	fi

run: $(STAMP) fonts
	dvc repro
	dvc status

lint: $(STAMP)
	$(BIN)/ruff check src stages tests benchmarks

test: lint fonts
	$(BIN)/python -m pytest -ra

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --out metrics/bench.json $(if $(ONLY),--only $(ONLY) --update)

# The whole pipeline on a Kaggle-size input (55,890 records; 5,000 and 20,000 first): an hour or more on 2 cores,
# the datasets (7.5 GB) written once under $TMPDIR/tilescan-bench-scale. SIZES=2000 for a quick look.
bench-scale: $(STAMP) fonts
	$(BIN)/python benchmarks/scale_e2e.py --out metrics/bench_scale.json $(if $(SIZES),--sizes $(SIZES))

review-curve: $(STAMP)
	$(BIN)/python benchmarks/review_curve.py $(if $(RETRAIN),--retrain-detector)

# A fresh clone of HEAD runs `make run` (its own .venv); its dvc.lock must equal the committed one byte for
# byte. TOLERANT=1 compares metrics within tolerances instead (GPU, ARM, fewer cores than common.threads).
repro-check: $(STAMP)
	$(BIN)/python -m tilescan.repro_check $(if $(TOLERANT),--tolerant)

clean:
	rm -rf data models dvclive reports
