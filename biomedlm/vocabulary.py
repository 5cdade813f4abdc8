"""A model's vocabulary: rows padded to a multiple of 64, tokens added on top, tokenizer fit.

A tokenizer meant for weights maps every token to the id it had in training: the same size is
not enough, tokens added on top are fine.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
VOCAB_MULTIPLE = 64


def padded_vocab_size(n_tokens: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """``n_tokens`` rounded up to a multiple of ``multiple`` (embedding rows for GPU efficiency)."""
    return -(-n_tokens // multiple) * multiple


def grow_embeddings(model: Any, n_tokens: int) -> None:
    """Give a Hugging Face model an embedding row per token, rows padded to a multiple of 64."""
    rows = model.get_input_embeddings().weight.shape[0]
    if rows < n_tokens or rows % VOCAB_MULTIPLE:
        model.resize_token_embeddings(
            padded_vocab_size(max(rows, n_tokens)), pad_to_multiple_of=VOCAB_MULTIPLE
        )


def embedding_shortfall(tokens: int, rows: int) -> str | None:
    """Why a tokenizer of ``tokens`` tokens does not fit an embedding of ``rows`` rows, or None."""
    if tokens <= rows:
        return None
    return (
        f"the tokenizer has {tokens} tokens but the model's embedding has {rows} rows; "
        "tokenizer and model do not match"
    )


def _base_vocabulary(tokenizer: Any) -> dict[str, int]:
    """Token -> id of the tokenizer's own model (BPE...), without the tokens added on top."""
    if getattr(tokenizer, "is_fast", False):
        return dict(tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False))
    added = tokenizer.get_added_vocab()
    return {t: i for t, i in tokenizer.get_vocab().items() if t not in added}


def vocabulary_difference(reference: Any, other: Any) -> str | None:
    """How ``other`` maps tokens to ids unlike ``reference``, or None when alike: the same base
    vocabulary and every shared added token at the same id (either may add more).
    """
    ours, theirs = _base_vocabulary(reference), _base_vocabulary(other)
    shared_added = set(reference.get_added_vocab()) & set(other.get_added_vocab())
    ours.update({t: reference.convert_tokens_to_ids(t) for t in shared_added})
    theirs.update({t: other.convert_tokens_to_ids(t) for t in shared_added})
    moved = sorted(t for t in ours.keys() & theirs.keys() if ours[t] != theirs[t])
    only = len(ours.keys() ^ theirs.keys())
    if not moved and not only:
        return None
    example = f", e.g. {moved[0]!r}: {ours[moved[0]]} vs {theirs[moved[0]]}" if moved else ""
    return (
        f"{len(moved)} tokens have other ids{example}, {only} tokens are in one vocabulary only "
        f"(base vocabularies of {len(ours) - len(shared_added)} and "
        f"{len(theirs) - len(shared_added)} tokens)"
    )


def save_with_tokens(
    source: Path, tokens: Sequence[str], out_dir: Path, pad_token: str | None = None
) -> Path:
    """The tokenizer at ``source`` plus special ``tokens`` (and a pad token), saved to ``out_dir``
    through a renamed temporary folder (safe for concurrent ranks; a same one is left as it is).
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
