"""Decoding options shared by a generation recipe's ``eval.decoding`` and ``biomedlm.generate``
(docs/generation.md), and their Hugging Face ``generate`` arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from biomedlm.recipe_files import load_as, recipe_layers
from biomedlm.settings import unset

STRATEGIES = ("greedy", "beam", "sample")


@dataclass
class DecodingConfig:
    """How a generation model answers; the defaults are the flags of the BioMedLM scripts' test
    decoding (``run_generation_batch.py``, MeQSum; their ban on ids 198 and 628 is not
    reproduced). The same ``length_penalty`` weighs differently under the pinned transformers than
    under the scripts' 4.24 (huggingface/transformers#27351; docs/fine-tuning.md)."""

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


# generate without a recipe: plain greedy; --strategy beam takes DecodingConfig's beams and
# length penalty
PLAIN = DecodingConfig(strategy="greedy", max_new_tokens=256, no_repeat_ngram_size=0, min_length=0)


def decoding_kwargs(decoding: DecodingConfig) -> dict[str, Any]:
    """Hugging Face ``generate`` arguments for ``decoding`` (stop at EOS is the caller's ids)."""
    kwargs: dict[str, Any] = {
        "use_cache": True,  # llm-foundry's exports say use_cache: false (a training setting)
        "max_new_tokens": decoding.max_new_tokens,
        "min_length": decoding.min_length,  # prompt included, as the scripts pass it
        "no_repeat_ngram_size": decoding.no_repeat_ngram_size,
        "num_beams": 1,
        "do_sample": False,
        "num_return_sequences": 1,
    }
    if decoding.min_new_tokens:  # given at all, transformers puts min_length at prompt + it
        kwargs["min_new_tokens"] = decoding.min_new_tokens
    if decoding.strategy == "beam":
        kwargs.update(num_beams=decoding.num_beams, length_penalty=decoding.length_penalty)
    elif decoding.strategy == "sample":
        kwargs.update(
            do_sample=True, temperature=decoding.temperature, top_p=decoding.top_p, top_k=0
        )
    return kwargs


@dataclass
class _Eval:
    decoding: DecodingConfig = field(default_factory=DecodingConfig)


@dataclass
class _DecodingOnly:
    eval: _Eval = field(default_factory=_Eval)


def recipe_decoding(path: Path) -> DecodingConfig:
    """The ``eval.decoding`` of the recipe at ``path`` (bases merged, checked); nothing else."""
    sections = [
        {"eval": OmegaConf.masked_copy(layer["eval"], ["decoding"])}
        for layer in recipe_layers(path)
        if isinstance(layer.get("eval"), DictConfig) and "decoding" in layer["eval"]
    ]
    return load_as(_DecodingOnly, path, layers=sections).eval.decoding
