"""The generation layout: ``source`` + separator, then ``target`` + EOS; loss on target and EOS.

The separator ``<|startoftext|>`` is an added special token, as in the BioMedLM scripts; a model
whose tokenizer carries it is asked as it was trained (:mod:`biomedlm.generate`).
"""

from __future__ import annotations

from typing import Any

SEPARATOR = "<|startoftext|>"


def separator_of(tokenizer: Any) -> str | None:
    """The generation separator when ``tokenizer`` was saved by a generation fine-tune, else None."""
    added = getattr(tokenizer, "additional_special_tokens", None) or []
    return SEPARATOR if SEPARATOR in added else None


def prompt_of(source: str, separator: str | None = SEPARATOR) -> str:
    """The prompt a model is trained on and asked with: the source, then the separator once (a
    source that ends with it, as a run's ``data/*.jsonl`` prompts do, gets no second one).
    """
    return source.removesuffix(separator) + separator if separator else source


def clean(text: str | None) -> str:
    """Whitespace normalised: each line's runs of spaces collapsed, blank lines dropped."""
    lines = (" ".join(line.split()) for line in (text or "").splitlines())
    return "\n".join(line for line in lines if line)
