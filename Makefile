# BioMedLM recipes: one entry point per stage of the pipeline (README.md; the reference is docs/).
#   make demo         the main job on the embedded sample: prep -> pretrain -> eval -> fine-tune -> scores
#   make install      virtualenv with the pinned stack (first time: ~3 min, ~7 GB: torch 2.7.0 is a CUDA build; it runs on CPU)
#   make prep-data    PubMed sources -> clean text -> tokenizer -> MDS shards (CONFIG=..., ARGS="key=value ..."; docs/data-prep.md)
#   make train        a pretraining or fine-tuning recipe (RECIPE=..., ARGS="key=value ..."; docs/pretraining.md, docs/fine-tuning.md)
#   make eval         the gauntlet on every checkpoint of a run (RUN=..., or CKPT=...; docs/evaluation.md)
#   make paper        the paper's table from one model (INIT=PATH or hub id; `make paper-demo` on CPU; docs/paper.md)
#   make test         the CPU test suite (fast; `make test-slow` adds the longer tests; `make test-gpu` on a GPU node: docs/gpu.md)
#   make lint         ruff + mypy
#   make bench        benchmarks/ (figures printed, nothing asserted; docs/benchmarks.md)

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= recipes/data/sample.yaml
ARGS ?=
LOCK_KEY := $(shell cat requirements.lock | sha1sum | cut -c1-16)
STAMP := $(VENV)/.lock-$(LOCK_KEY)

export HF_DATASETS_OFFLINE ?= 1
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= true

.PHONY: install prep-data test test-slow test-dist test-gpu lint bench clean

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

# two workers (pytest-xdist), the tests that use the prepared shards on one of them (tests/conftest.py)
test: install
	$(PY) -m pytest -n 2 --dist loadgroup $(ARGS)

# the slow tests are mostly one busy process each: two at a time on two cores (pytest-xdist)
test-slow: install
	$(PY) -m pytest -m "slow and not gpu" -n 2 $(ARGS)

test-dist: install   # 2-process DDP and FSDP2 (gloo) runs through Composer's launcher, on CPU
	$(PY) -m pytest -m "world_size and not gpu" $(ARGS)

test-gpu: install    # on a GPU node: bf16, FSDP v1 FULL_SHARD + meta init + sharded resume (2 GPUs)
	$(PY) -m pytest -m "gpu" $(ARGS)

lint: install
	$(PY) -m ruff check strict_config medtasks data_prep biomedlm eval_gauntlet tests benchmarks
	$(PY) -m ruff format --check strict_config medtasks data_prep biomedlm eval_gauntlet tests benchmarks
	$(PY) -m mypy

# Benchmarks print figures and ratios against a reference measured in the same run; nothing is
# asserted. bench-train and bench-eval prepare the sample data and the debug model if missing.
bench: bench-prep bench-train bench-eval bench-finetune bench-generate

.PHONY: bench-prep bench-eval
bench-prep: install   # data_prep vs llm-foundry's convert_dataset_json vs bare tokenizers
	$(PY) -m benchmarks.bench_prep $(ARGS)

clean:
	rm -rf outputs runs bench_out .pytest_cache .mypy_cache .ruff_cache

RECIPE ?= recipes/pretrain/debug-cpu.yaml
.PHONY: train
train: install
	$(PY) -m biomedlm.train $(RECIPE) $(ARGS)

# Evaluation: score every checkpoint of a run exactly once (its save_folder of Composer
# checkpoints, which record their step and tokens seen), or one checkpoint file or Hugging Face
# model folder: make eval CKPT=path. While training runs, `python -m eval_gauntlet watch FOLDER
# --out RUN/eval` scores each new checkpoint as it lands (the gauntlet_watcher callback starts it).
RUN ?= runs/debug-cpu
CKPT ?= $(RUN)/checkpoints
EVAL_OUT ?= $(RUN)/eval
EVAL_ARGS ?= --sample 100
.PHONY: eval demo
eval: install
	$(PY) -m eval_gauntlet score $(CKPT) --out $(EVAL_OUT) --settle 1 --no-progress $(EVAL_ARGS)
	@cat $(EVAL_OUT)/results.md; echo "plot: $(EVAL_OUT)/results.png"

# The main job end to end on the embedded sample: prep -> train (3 checkpoints) -> eval each ->
# fine-tune the last one (PubMedQA classification, MedQA multiple choice, MedQuAD answers) and
# score the fine-tuned models: in-context and fine-tuned rows in one table and plot (runs/debug-cpu/eval).
# The stages are the commands of prep-data, train, eval, finetune-demo and generate-demo, each
# one's output in runs/debug-cpu/logs/<stage>.log; it ends on one screen of results.
# `make demo V=1` (or VERBOSE=1) shows every stage's full output instead.
V ?=
VERBOSE ?= $(V)
demo: install
	$(PY) -m eval_gauntlet.demo $(if $(filter-out 0,$(VERBOSE)),--verbose)

.PHONY: bench-train
bench-train: install   # Composer vs a bare PyTorch loop on the debug recipe
	@test -f outputs/prep/sample/train/index.json || $(MAKE) prep-data
	$(PY) -m benchmarks.bench_train $(ARGS)

.PHONY: bench-gpu
bench-gpu: install   # on a GPU node: tokens/s per GPU and MFU of the 2.7B recipe and the ladder
	@test -f outputs/prep/sample/tokenizer/tokenizer.json || $(MAKE) prep-data
	$(PY) -m benchmarks.bench_gpu $(ARGS)

BENCH_MODEL ?= $(RUN)/hf/huggingface/ba60
bench-eval: install   # the gauntlet vs lm-evaluation-harness on the debug model: time, same answers
	@test -f $(BENCH_MODEL)/config.json || { $(MAKE) prep-data && $(MAKE) train; }
	$(PY) -m benchmarks.bench_eval $(BENCH_MODEL) $(ARGS)

# Generation fine-tuning on CPU: the debug model (`make train`) learns to answer MedQuAD's NINDS
# questions (recipes/finetune/patient-qa-debug-cpu.yaml), answers its test questions, and prints
# three answers beside their references with the ROUGE/BLEU rows of the results table.
GEN_RUN ?= $(RUN)/finetune/patient-qa-debug-cpu
.PHONY: generate-demo bench-generate
generate-demo: install
	$(DEBUG_MODEL)
	rm -rf $(GEN_RUN)
	$(PY) -m biomedlm.train recipes/finetune/patient-qa-debug-cpu.yaml model.init_from=$(FT_INIT) \
	  run_dir=$(GEN_RUN) eval.out=$(EVAL_OUT) progress_bar=false $(ARGS)
	@cat $(EVAL_OUT)/samples/*/medquad.test.md; echo
	@cat $(EVAL_OUT)/results.md; echo "plot: $(EVAL_OUT)/results.png"

bench-generate: install   # batched biomedlm.generate vs a transformers generate loop, one prompt at a time
	@test -f $(BENCH_MODEL)/config.json || { $(MAKE) prep-data && $(MAKE) train; }
	$(PY) -m benchmarks.bench_generate $(BENCH_MODEL) $(ARGS)

# Fine-tuning (recipes/finetune/): the debug model fine-tuned on PubMedQA's 450 train items and
# scored on its 500 test items, then a short multiple-choice run; their rows join the gauntlet's
# table and plot in $(EVAL_OUT). Runs go to $(RUN)/finetune/<recipe>. On a busy machine,
# OMP_NUM_THREADS=1 keeps this tiny model from losing its time to thread contention.
FT_INIT ?= $(RUN)/hf/huggingface/ba60
# the debug model for the demos, built if missing; each stage's output goes to $(RUN)/logs/<stage>.log
# (its last lines are shown if it fails)
DEBUG_MODEL = @test -f $(FT_INIT)/config.json || { mkdir -p $(RUN)/logs && for stage in prep-data train; do \
	echo "building the debug model: make $$stage (output in $(RUN)/logs/$$stage.log)"; \
	$(MAKE) --no-print-directory $$stage > $(RUN)/logs/$$stage.log 2>&1 || { tail -n 20 $(RUN)/logs/$$stage.log; \
	echo "make $$stage failed: its output is in $(RUN)/logs/$$stage.log"; exit 1; }; done; }
.PHONY: finetune-demo sweep bench-finetune
finetune-demo: install
	$(DEBUG_MODEL)
	rm -rf $(RUN)/finetune/pubmedqa-debug-cpu $(RUN)/finetune/medqa-debug-cpu
	for r in pubmedqa-debug-cpu medqa-debug-cpu; do \
	  $(PY) -m biomedlm.train recipes/finetune/$$r.yaml model.init_from=$(FT_INIT) \
	    run_dir=$(RUN)/finetune/$$r eval.out=$(EVAL_OUT) progress_bar=false log_to_console=false $(ARGS) || exit 1; \
	done
	@cat $(EVAL_OUT)/results.md; echo "plot: $(EVAL_OUT)/results.png"

# A learning-rate sweep of a fine-tuning recipe: one run per value, scores side by side in
# runs/<run_name>-sweep/eval (results.md, sweep.md).
#   make sweep RECIPE=recipes/finetune/pubmedqa.yaml LRS="1e-5 2e-5 5e-5" ARGS="model.init_from=PATH"
LRS ?= 1e-5 2e-5 5e-5
sweep: install
	$(PY) -m biomedlm.finetune.sweep $(RECIPE) $(ARGS) --lrs $(LRS)

bench-finetune: install   # multiple-choice fine-tuning: the recipe vs a plain HF Trainer loop
	$(PY) -m benchmarks.bench_finetune $(ARGS)

# The BioMedLM paper's table from one model (docs/paper.md): the in-context gauntlet on INIT,
# each fine-tune of the paper, their scores beside the published numbers in $(OUT)/paper.md
# (.json, .png). INIT: a folder, a checkpoint or a hub id (stanford-crfm/BioMedLM, from the
# Hugging Face cache: HF_HUB_OFFLINE=1 here). Relaunch the same command to resume.
#   make paper INIT=stanford-crfm/BioMedLM [OUT=runs/paper] [ARGS="data.layout=script"]
# paper-demo: the same on CPU with the debug model (built if missing) and the *-debug-cpu recipes,
# into runs/paper-demo unless OUT=... is given.
OUT ?= runs/paper
.PHONY: paper paper-demo
paper-demo: OUT = runs/paper-demo
paper: install
	@test -n "$(INIT)" || { echo "make paper INIT=PATH (a model folder, a checkpoint or a hub id such as stanford-crfm/BioMedLM)"; exit 2; }
	$(PY) -m eval_gauntlet paper $(INIT) --out $(OUT) -- $(ARGS)

paper-demo: install
	$(DEBUG_MODEL)
	$(PY) -m eval_gauntlet paper $(FT_INIT) --out $(OUT) --demo -- $(ARGS)
	@sed '/^## Predictions/q' $(OUT)/paper.md; echo "examples to check: $(OUT)/paper.md; plot: $(OUT)/paper.png"
