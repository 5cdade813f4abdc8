"""A fine-tuning recipe: weights to start from, a task, its data files, how to score the result
(docs/fine-tuning.md); a recipe with a top-level ``task`` key is one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from biomedlm.decoding import DecodingConfig
from biomedlm.settings import (
    LoaderOptions,
    RecipeError,
    TrainingSettings,
    check_model_common,
    unset,
)

TASKS = ("multiple_choice", "classification", "generation")
PARTS = ("train", "validation", "test")  # of a recipe's data, in every family
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


def peft_config(
    lora: LoraConfig, trainable_tokens: Sequence[int] = (), task_type: str = "CAUSAL_LM"
) -> dict[str, Any]:
    """``model.lora`` as a ``peft`` LoRA config (GPT-2's Conv1D: fan-in-fan-out), every family's.

    ``trainable_tokens``: added tokens whose embedding rows train beside the adapters (the other
    rows stay frozen). ``task_type``: ``CAUSAL_LM``, or ``SEQ_CLS`` (peft trains the head too).
    """
    config: dict[str, Any] = {
        "peft_type": "LORA",
        "task_type": task_type,
        "r": lora.r,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": list(lora.target_modules),
        "fan_in_fan_out": True,
    }
    if trainable_tokens:
        config["trainable_token_indices"] = list(trainable_tokens)
    return config


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


def question_key(text: str) -> str:
    """What makes two questions the same: case and whitespace aside."""
    return " ".join(text.lower().split())


@dataclass
class SplitConfig:
    """Validation and test parts made from ``data.train`` where a release has no split, by a
    salted hash of each example's question, whatever the file order or the row ids: releases
    repeat a question under other ids (MedMCQA, MedQuAD), and it must not be in two parts.
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

    def part(self, question: str) -> str:
        """The part ``question`` falls in (train, validation or test)."""
        digest = hashlib.sha1(f"{self.seed}\0{question_key(question)}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if u < self.test:
            return "test"
        return "validation" if u < self.test + self.validation else "train"


class DataError(RecipeError):
    """A data file that cannot be read; one line naming the file (and line)."""


@dataclass
class DataConfig(LoaderOptions):
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
        self.check_options("data")
        for part in ("validation", "test"):
            if self.split is not None and getattr(self.split, part) > 0 and getattr(self, part):
                raise ValueError(
                    f"data.split.{part} and data.{part} both make a {part} part (the split "
                    f"would take its share out of training unused): set data.split.{part}=0 "
                    f"or data.{part}=[]"
                )
        for key in ("train_limit", "test_limit"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"data.{key}: must be >= 1, got {value}")


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
        if self.eval.extra and self.task == "generation":
            raise ValueError(
                "eval.extra: more test sets are scored for multiple_choice and classification "
                "tasks; a generation recipe scores data.test (remove eval.extra)"
            )
        if self.data.layout != "markers" and self.task != "classification":
            raise ValueError(
                f"data.layout: {self.data.layout} is a classification layout; task {self.task} "
                "has one layout (remove data.layout)"
            )


def has_task(layers: list[Any], overrides: list[str] | None = None) -> bool:
    """A fine-tuning recipe has a top-level ``task`` key (in a layer or an override)."""
    return any("task" in layer for layer in layers) or any(
        item.partition("=")[0].strip() == "task" for item in overrides or []
    )


@dataclass(frozen=True)
class FinetuneFacts:
    """What a fine-tune's launch found out, handed to its family's translation."""

    init_folder: Path  # a Hugging Face folder with model.init_from's weights
    tokenizer_dir: Path  # the tokenizer to start from (tokenizer.path, else the weights')
    on_gpu: bool
    n_positions: int  # the weights' context length
