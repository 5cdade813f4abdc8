"""Tokens a fine-tuning layout adds (``[SEP]``, ``[PAD]``, ``[Context]``...), and their embedding rows.

The BioMedLM fine-tuning scripts add their layout's markers as new special tokens and grow the
embedding by as many rows; here the rows stay padded to a multiple of 64 (as the pretraining
vocabulary is) and the tokenizer with its added tokens is saved into the run folder, so that
llm-foundry builds it by path and every export carries it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biomedlm.model import VOCAB_MULTIPLE, padded_vocab_size

log = logging.getLogger(__name__)


def save_with_tokens(
    source: Path, tokens: Sequence[str], out_dir: Path, pad_token: str | None = None
) -> Path:
    """The tokenizer at ``source`` plus special ``tokens`` (and a pad token), saved to ``out_dir``.

    Written to a temporary folder and renamed, so concurrent ranks and relaunches are safe: the
    content depends only on the inputs, and a folder already holding it is left as it is.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    added: dict[str, Any] = {"additional_special_tokens": list(tokens)}
    if pad_token is not None:
        added["pad_token"] = pad_token
    tokenizer.add_special_tokens(added, replace_additional_special_tokens=False)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tokenizer.save_pretrained(scratch)
        if _same_files(scratch, out_dir):  # a relaunch, or another rank: no window without it
            return out_dir
        if out_dir.exists():
            shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(scratch, out_dir)
    except OSError:
        if not (out_dir / "tokenizer_config.json").is_file():  # another rank won the rename
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("tokenizer with %d added tokens (%s) at %s", len(tokens), ", ".join(tokens), out_dir)
    return out_dir


def _same_files(a: Path, b: Path) -> bool:
    if not b.is_dir():
        return False
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / name).read_bytes() == (b / name).read_bytes() for name in names
    )


def grow_embeddings(model: Any, n_tokens: int) -> None:
    """Give a Hugging Face model an embedding row per token, rows padded to a multiple of 64."""
    rows = model.get_input_embeddings().weight.shape[0]
    if rows < n_tokens or rows % VOCAB_MULTIPLE:
        model.resize_token_embeddings(
            padded_vocab_size(max(rows, n_tokens)), pad_to_multiple_of=VOCAB_MULTIPLE
        )
