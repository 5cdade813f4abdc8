# BioMedLM recipes: one entry point per stage of the pipeline.
#   make install      virtualenv with the pinned stack (first time: ~3 min, ~7 GB: torch 2.7.0 is a CUDA build; it runs on CPU)
#   make prep-data    PubMed sources -> clean text -> tokenizer -> MDS shards (CONFIG=..., ARGS="key=value ...")
#   make test         the CPU test suite (fast; `make test-slow` adds the longer tests)
#   make lint         ruff + mypy
#   make bench        benchmarks/ (figures printed, nothing asserted)

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= data_prep/configs/sample.yaml
ARGS ?=
LOCK_KEY := $(shell cat requirements.lock | sha1sum | cut -c1-16)
STAMP := $(VENV)/.lock-$(LOCK_KEY)

export HF_DATASETS_OFFLINE ?= 1
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= true

.PHONY: install prep-data test test-slow test-dist lint bench clean

# The heavy, locked dependencies are installed once per lock (the stamp); the project itself
# is reinstalled (editable) whenever the clone's path or pyproject.toml changes, so a cached
# virtualenv always points at this clone and knows its entry points.
PROJECT_STAMP := $(VENV)/.project-$(shell echo "$(CURDIR)" | cat - pyproject.toml | sha1sum | cut -c1-16)

install: $(PROJECT_STAMP)

$(PROJECT_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.project-*
	@touch $@

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	@rm -f $(VENV)/.lock-*
	@touch $@

prep-data: install
	$(PY) -m data_prep $(CONFIG) $(ARGS)

test: install
	$(PY) -m pytest $(ARGS)

test-slow: install
	$(PY) -m pytest -m "slow and not gpu" $(ARGS)

test-dist: install   # 2-process DDP and FSDP2 (gloo) runs through Composer's launcher, on CPU
	$(PY) -m pytest -m "world_size" $(ARGS)

lint: install
	$(PY) -m ruff check strict_config data_prep biomedlm eval_gauntlet tests benchmarks
	$(PY) -m ruff format --check strict_config data_prep biomedlm eval_gauntlet tests benchmarks
	$(PY) -m mypy

bench: install
	$(PY) benchmarks/bench_prep.py $(ARGS)

clean:
	rm -rf outputs runs bench_out .pytest_cache .mypy_cache .ruff_cache

RECIPE ?= recipes/pretrain/debug-cpu.yaml
.PHONY: train
train: install
	$(PY) -m biomedlm.train $(RECIPE) $(ARGS)

# Evaluation: score every Hugging Face export of a run exactly once (the hf_checkpointer
# callback writes RUN/hf/huggingface/ba<step>), or one model folder: make eval CKPT=path/to/hf_dir.
# While training runs, `python -m eval_gauntlet watch RUN/hf/huggingface --out RUN/eval` scores
# each new checkpoint as it lands. TOKENS_PER_STEP is the recipe's global batch x sequence length.
RUN ?= runs/debug-cpu
CKPT ?= $(RUN)/hf/huggingface
EVAL_OUT ?= $(RUN)/eval
EVAL_ARGS ?= --sample 100
TOKENS_PER_STEP ?= 2048
.PHONY: eval demo
eval: install
	@if [ -f "$(CKPT)/config.json" ]; then \
	  $(PY) -m eval_gauntlet score $(CKPT) --out $(EVAL_OUT) --no-progress $(EVAL_ARGS) || exit $$?; \
	else \
	  $(PY) -m eval_gauntlet watch $(CKPT) --once --settle 1 --out $(EVAL_OUT) --tokens-per-step $(TOKENS_PER_STEP) --no-progress $(EVAL_ARGS) || exit $$?; \
	fi; \
	cat $(EVAL_OUT)/results.md; echo "plot: $(EVAL_OUT)/results.png"

# The main job end to end on the embedded sample: prep -> train (3 checkpoints) -> eval each.
demo: install
	$(MAKE) prep-data
	rm -rf $(RUN)
	$(MAKE) train RECIPE=recipes/pretrain/debug-cpu.yaml
	$(MAKE) eval

.PHONY: bench-train
bench-train: install   # Composer vs a bare PyTorch loop on the debug recipe (after make prep-data)
	$(PY) benchmarks/bench_train.py $(ARGS)
