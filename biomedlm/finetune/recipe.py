"""A fine-tuning recipe: weights to start from, a task, its data files, how to score the result.

It shares the training settings of a pretraining recipe (:class:`biomedlm.recipe.TrainingSettings`:
optimizer, scheduler, callbacks, FSDP, precision, durations, checkpoints) and the same loader,
so it is as strict: an unknown key fails naming the key and the nearest valid one. Example::

    run_name: pubmedqa
    task: classification          # multiple_choice | classification | generation
    model:
      init_from: path/to/BioMedLM # a Hugging Face folder, a Composer checkpoint, a sharded folder
      lora: {r: 16}               # optional: train adapters only
    data:
      format: pubmedqa            # how the files are read (see each task's readers)
      train: [data/pubmedqa/ori_pqal.json]
      test: [data/pubmedqa/test_ground_truth.json]
    eval:
      decoding: {strategy: beam}  # generation only

``data.train`` / ``data.validation`` / ``data.test`` each take a list of files, folders or globs
(relative paths are relative to the working directory, as every recipe path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from biomedlm.recipe import TrainingSettings, check_model_common, unset

TASKS = ("multiple_choice", "classification", "generation")
STRATEGIES = ("greedy", "beam", "sample")
LORA_EXPORTS = ("merged", "adapters")
LAYOUTS = ("markers", "script")  # data.layout (biomedlm.finetune.choice.layout)


@dataclass
class LoraConfig:
    """Low-rank adapters (``peft``): only they train; the base weights stay frozen."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["c_attn", "c_proj", "c_fc"])
    export: str = "merged"  # merged: adapters folded into the weights; adapters: saved apart

    def __post_init__(self) -> None:
        if unset(self):
            return
        if self.r < 1 or self.alpha < 1:
            raise ValueError("model.lora.r and model.lora.alpha: must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.lora.dropout: must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ValueError("model.lora.target_modules: needs at least one module name")
        if self.export not in LORA_EXPORTS:
            raise ValueError(f"model.lora.export: {self.export!r} is not one of {LORA_EXPORTS}")


@dataclass
class FinetuneModelConfig:
    init_from: str = MISSING  # HF folder, Composer checkpoint file or sharded checkpoint folder
    dropout: float | None = None  # None: as the weights' config says
    init_device: str = "cpu"
    attn_implementation: str = "sdpa"
    lora: LoraConfig | None = None
    share_prompt: bool = True  # multiple choice: a question read once, its options reuse it

    def __post_init__(self) -> None:
        if unset(self):
            return
        check_model_common("model", self.dropout or 0.0, self.init_device, self.attn_implementation)


@dataclass
class FinetuneTokenizerConfig:
    path: str | None = None  # None: the tokenizer saved with model.init_from


@dataclass
class SplitConfig:
    """Validation and test parts made from ``data.train`` where a release has no split.

    Each example goes to a part by a hash (salted with ``seed``) of its key, so the split does
    not depend on file order and an example is never in two parts: multiple choice and
    classification hash the example's stable key (its id, PMID, else its question text);
    generation hashes the normalised question (case and whitespace aside), since MedQuAD
    repeats a question under different ids and one question must not be in two parts.
    """

    validation: float = 0.1
    test: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if unset(self):
            return
        if not (0 <= self.validation < 1 and 0 <= self.test < 1) or (
            self.validation + self.test >= 1
        ):
            raise ValueError("data.split: validation and test are fractions summing to < 1")


@dataclass
class DataConfig:
    format: str = MISSING  # the reader: medqa, medmcqa, pubmedqa, bioasq, medquad, meqsum, jsonl...
    train: list[str] = MISSING  # files, folders or globs
    validation: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    split: SplitConfig | None = None  # make validation/test from train (releases without splits)
    cop_base: int | None = None  # MedMCQA: `cop` counts from 0 or from 1 (required for medmcqa)
    max_length: int = 512  # tokens per example; longer ones are cut from the source's start
    # classification: markers ([Context] c [Question] q [Answer]) or script (the released
    # run_seqcls_gpt.py's tokenizer(context, question), its end cut)
    layout: str = "markers"
    train_limit: int | None = None  # first N training examples (smoke runs, the demo)
    test_limit: int | None = None  # first N test examples

    def __post_init__(self) -> None:
        if unset(self):
            return
        if not self.train:
            raise ValueError("data.train: needs at least one file, folder or glob")
        if self.cop_base is not None and self.cop_base not in (0, 1):
            raise ValueError(f"data.cop_base: must be 0 or 1, got {self.cop_base}")
        if self.max_length < 8:
            raise ValueError(f"data.max_length: must be >= 8, got {self.max_length}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"data.layout: {self.layout!r} is not one of {LAYOUTS}")
        for key in ("train_limit", "test_limit"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"data.{key}: must be >= 1, got {value}")


@dataclass
class DecodingConfig:
    """How a generation model answers; the defaults are the BioMedLM scripts' test decoding.

    ``finetune/textgen/gpt2/run_generation_batch.py`` with the README's MeQSum command
    (``--length 400 --no_repeat_ngram_size 6 --length_penalty -0.5``) calls ``generate`` with 5
    beams, no sampling, ``max_length`` = the padded prompt + 400, ``min_length=5``. Hugging Face's
    ``min_length`` counts the prompt's tokens too, so for any prompt of 5 tokens or more it
    constrains nothing: it is passed as the scripts pass it; ``min_new_tokens`` asks for new
    tokens. (The scripts also ban token ids 198 and 628, GPT-2's newlines, which in BioMedLM's
    own vocabulary are other tokens: not reproduced.)
    """

    strategy: str = "beam"  # greedy | beam | sample
    max_new_tokens: int = 400
    num_beams: int = 5
    no_repeat_ngram_size: int = 6  # 0: off
    length_penalty: float = -0.5  # beam search: < 0 favours shorter answers
    min_length: int = 5  # Hugging Face's: prompt + new tokens (the scripts' min_length=5)
    min_new_tokens: int = 0  # at least this many new tokens before EOS (0: off)
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 8

    def __post_init__(self) -> None:
        if unset(self):
            return
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"eval.decoding.strategy: {self.strategy!r} is not one of {STRATEGIES}"
            )
        for key in ("max_new_tokens", "num_beams", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"eval.decoding.{key}: must be >= 1")
        for key in ("no_repeat_ngram_size", "min_length", "min_new_tokens"):
            if getattr(self, key) < 0:
                raise ValueError(f"eval.decoding.{key}: must be >= 0")
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"eval.decoding.min_new_tokens: {self.min_new_tokens} is more than "
                f"max_new_tokens ({self.max_new_tokens})"
            )
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError("eval.decoding: temperature must be > 0 and top_p in (0, 1]")


@dataclass
class TestSetConfig:
    """One more test set scored after fit (e.g. each of MMLU's medical subjects)."""

    path: list[str] = MISSING
    format: str = MISSING
    subject: str | None = None  # keep only rows of this subject
    group: str | None = None  # also scored pooled with the other sets of this group


@dataclass
class FinetuneEvalConfig:
    out: str = "${run_dir}/eval"  # results.jsonl / .md / .png, beside the gauntlet's rows
    name: str | None = None  # data.test's task name in the results (default: data.format)
    test_after_fit: bool = True  # score data.test (and `extra`) once after training
    extra: dict[str, TestSetConfig] = field(default_factory=dict)
    bootstrap_iters: int = 1000
    samples: int = 20  # generation: answers written to the sample page for a person to read
    decoding: DecodingConfig = field(default_factory=DecodingConfig)

    def __post_init__(self) -> None:
        if unset(self):
            return
        if self.bootstrap_iters < 1 or self.samples < 0:
            raise ValueError("eval.bootstrap_iters must be >= 1 and eval.samples >= 0")


@dataclass
class FinetuneRecipe(TrainingSettings):
    """A fine-tuning recipe (see the module docstring)."""

    task: str = MISSING
    model: FinetuneModelConfig = field(default_factory=FinetuneModelConfig)
    tokenizer: FinetuneTokenizerConfig = field(default_factory=FinetuneTokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    eval: FinetuneEvalConfig = field(default_factory=FinetuneEvalConfig)

    def __post_init__(self) -> None:
        if unset(self):
            return
        super().__post_init__()
        if self.task not in TASKS:
            raise ValueError(f"task: {self.task!r} is not one of {', '.join(TASKS)}")
        if self.data.layout != "markers" and self.task != "classification":
            raise ValueError(
                f"data.layout: {self.data.layout} is a classification layout; task {self.task} "
                "has one layout (remove data.layout)"
            )
