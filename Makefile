# Thin wrappers over `python -m sweep <command>`. Make variables map to flags:
#   DATASET → --dataset, TRIALS → --trials, TIMEOUT → --timeout, SEED → --seed,
#   SAMPLER → --sampler, PRUNER → --pruner, STORAGE → --storage, STUDY → --study,
#   SPACE → --space, DATA_DIR → --data-dir, EPOCHS → --epochs, FORMAT → --format,
#   RESULTS → --results, PORT → --port, WORKERS → --workers, ENGINE → --engine,
#   TUNER → --tuner, TIME_LIMIT → --time-limit, MODEL → --model, BUDGET → bench --budget,
#   MAX_PARAMS → --max-params, MAX_SIZE_KB → --max-size-kb, MAX_LATENCY_MS → --max-latency-ms,
#   OBJECTIVE → --objective, TRIAL → retrain --trial, SLOWEST=1 → bench --slowest,
#   ONE_THREAD=1 → bench --one-thread, DATASETS → bench --datasets, SHARES → bench --shares.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

DATASET ?= mnist

# A flag only when its variable is set, so the CLI's defaults stay the one source of truth.
# Values are single-quoted for the shell: a folder name may hold spaces.
flag = $(if $(strip $($(1))),$(2) '$($(1))')
# Each command gets the flags it takes: every one reads results, some load the data files,
# baseline and sweep also make a split (a study records its own, which retrain reads).
RESULT_FLAGS = --dataset '$(DATASET)' $(call flag,RESULTS,--results)
FILE_FLAGS = $(RESULT_FLAGS) $(call flag,DATA_DIR,--data-dir)
DATA_FLAGS = $(FILE_FLAGS) $(call flag,SEED,--seed)
STUDY_FLAGS = $(call flag,STORAGE,--storage) $(call flag,STUDY,--study)

.PHONY: install sweep baseline retrain export leaderboard report spaces dashboard test test-fast lint bench clean-venv

install: $(STAMP)

# Where nvidia-smi lists a GPU, TensorFlow's CUDA build replaces the CPU one (both install the
# same `tensorflow` package, so the CPU build goes first). GPU=no keeps the CPU build.
GPU ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
TF_VERSIONS := >=2.16,<2.22

# Re-installs whenever pyproject.toml changes; the first run creates the virtual environment.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres]'
ifeq ($(GPU),yes)
	$(PY) -m pip uninstall --quiet --yes tensorflow-cpu
	$(PY) -m pip install --quiet 'tensorflow[and-cuda]$(TF_VERSIONS)'
endif
	touch $(STAMP)

sweep: $(STAMP)
	$(PY) -m sweep sweep $(DATA_FLAGS) $(STUDY_FLAGS) $(call flag,SPACE,--space) \
		$(call flag,TRIALS,--trials) $(call flag,TIMEOUT,--timeout) $(call flag,TIME_LIMIT,--time-limit) \
		$(call flag,SAMPLER,--sampler) $(call flag,PRUNER,--pruner) $(call flag,WORKERS,--workers) \
		$(call flag,ENGINE,--engine) $(call flag,TUNER,--tuner) $(call flag,MODEL,--model) \
		$(call flag,MAX_PARAMS,--max-params) $(call flag,MAX_SIZE_KB,--max-size-kb) \
		$(call flag,MAX_LATENCY_MS,--max-latency-ms) $(call flag,OBJECTIVE,--objective)

baseline: $(STAMP)
	$(PY) -m sweep baseline $(DATA_FLAGS) $(call flag,EPOCHS,--epochs)

retrain: $(STAMP)
	$(PY) -m sweep retrain $(FILE_FLAGS) $(STUDY_FLAGS) $(call flag,TRIAL,--trial)

export: $(STAMP)
	$(PY) -m sweep export $(FILE_FLAGS) $(call flag,FORMAT,--format) $(if $(strip $(SINGLE)),--single)

leaderboard: $(STAMP)
	$(PY) -m sweep leaderboard $(RESULT_FLAGS) $(STUDY_FLAGS)

report: $(STAMP)
	$(PY) -m sweep report $(RESULT_FLAGS) $(STUDY_FLAGS)

spaces: $(STAMP)
	$(PY) -m sweep spaces

dashboard: $(STAMP)
	$(PY) -m sweep dashboard $(RESULT_FLAGS) $(STUDY_FLAGS) $(call flag,PORT,--port)

# The whole suite, slow end-to-end runs included.
# One test file per core: most of a test's time is one process starting TensorFlow or one
# small model training on one thread. Files stay whole, so a module's shared sweep runs once.
# Each run has its own temporary folder, removed when every test passed: pytest's shared
# /tmp/pytest-of-<user> is pruned by any other pytest session on the machine, and CI once lost
# a running test's folder that way.
test: $(STAMP)
	@tmp=$$(mktemp -d -t sweep-tests.XXXXXX) && \
	$(PY) -m pytest -q -n auto --dist loadfile --basetemp "$$tmp/pytest" && rm -rf "$$tmp" || \
	{ echo "make test: temporary files kept in $$tmp" >&2; exit 1; }

# Only the fast tests (no model training, no linting).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not lint"

# ruff (lint and format) and strict mypy: tests/test_style.py, which make test runs too.
lint: $(STAMP)
	$(PY) -m pytest -q -m lint

clean-venv:
	rm -rf $(VENV)

# Benchmarks (not part of `make test`), written to results/bench/<BENCH>/:
#   BENCH=datasets (default): the bare sweep and KerasTuner Hyperband on every dataset at hand
#     (MNIST from DATA_DIR or SWEEP_DATA_DIR, its image folder and subsets, digits), TIME_LIMIT each
#   BENCH=pruning: rerun pruned trials of a finished sweep (RESULTS=its results root) in full
#   BENCH=strategies: sampler/pruner pairs at an equal wall budget (BUDGET seconds each)
#   BENCH=workers: trials per hour, 1 worker × 2 threads against 2 workers × 1 thread
#   BENCH=throughput: MNIST epoch seconds: notebook fit, trial path, compute floor
#   BENCH=memory: resident memory of the process tree after each of TRIALS trials (WORKERS)
#   BENCH=pareto: the Pareto sampler against accuracy-only TPE, TRIALS each, SEEDS (DATASET=mnist-1k)
#   BENCH=hostile: hundreds of bad command lines: hangs, tracebacks, leaks, files written
#   BENCH=portfolio: the starting-point candidates on digits, MNIST 1k/10k and RGB digits, SEEDS (validation)
#   BENCH=ensemble: two averaged models side by side against one on every core (BUDGET s, SEEDS; validation)
#   BENCH=share: the answer's share of the limit (SHARES) on MNIST 50k/10k and RGB digits, SEEDS, held-out scores
#   BENCH=views: the starting points alone and over test-time views, portfolio's sets + MNIST 3 epochs, SEEDS
#   BENCH=reuse: the answer's retrain alone, averaged with its trial's model, from its weights; + MNIST 50k/slow, SEEDS
#   SLOWEST=1: emulate the slowest machine kind (float32, TIME_LIMIT scaled by measured speed)
BENCH ?= datasets
bench: $(STAMP)
	$(PY) -m bench $(BENCH) --dataset '$(DATASET)' $(call flag,BUDGET,--budget) \
		$(call flag,SEED,--seed) $(call flag,TRIALS,--trials) $(call flag,WORKERS,--workers) \
		$(call flag,TIME_LIMIT,--time-limit) $(call flag,DATA_DIR,--data-dir) \
		$(call flag,RESULTS,--results) $(call flag,STUDY,--study) $(call flag,SEEDS,--seeds) \
		$(call flag,DATASETS,--datasets) $(call flag,SHARES,--shares) \
		$(if $(strip $(SLOWEST)),--slowest) $(if $(strip $(ONE_THREAD)),--one-thread)
