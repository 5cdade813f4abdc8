"""The generation layout: ``source`` + separator, then ``target`` + EOS; loss on target and EOS.

As the BioMedLM fine-tuning scripts (``finetune/textgen``): the separator is an added special
token, ``<|startoftext|>``, with its own embedding row, and the tokenizer saved with every export
carries it. A model fine-tuned for generation is recognised by that token among its tokenizer's
additional special tokens: :mod:`biomedlm.generate` then asks it as it was trained (the prompt
whitespace-normalised, the separator appended), so a user types the question alone.
"""

from __future__ import annotations

from typing import Any

SEPARATOR = "<|startoftext|>"


def separator_of(tokenizer: Any) -> str | None:
    """The generation separator when ``tokenizer`` was saved by a generation fine-tune, else None."""
    added = getattr(tokenizer, "additional_special_tokens", None) or []
    return SEPARATOR if SEPARATOR in added else None


def prompt_of(source: str, separator: str | None = SEPARATOR) -> str:
    """The prompt a model is trained on and asked with: the source, then the separator."""
    return source + (separator or "")


def clean(text: str | None) -> str:
    """Whitespace normalised: each line's runs of spaces collapsed, blank lines dropped."""
    lines = (" ".join(line.split()) for line in (text or "").splitlines())
    return "\n".join(line for line in lines if line)
