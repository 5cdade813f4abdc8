"""``model.init_from``: any trained model the project knows, as a Hugging Face folder.

llm-foundry's models start from a Hugging Face folder, so a Composer checkpoint is converted
once into ``<run_dir>/init/<name>-<fingerprint>`` (path, sizes, mtimes: a changed checkpoint
is converted again) by local rank 0 while the other ranks wait.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from biomedlm.settings import RecipeError
from biomedlm.trained.hub import locate
from biomedlm.trained.kinds import (
    CheckpointError,
    first_line,
    has_tokenizer,
    incomplete_model_folder,
    kind_of,
)
from biomedlm.trained.load import load
from biomedlm.vocabulary import embedding_shortfall, vocabulary_difference
from data_prep.files import atomic_dir, follow_umask

log = logging.getLogger(__name__)
KEY = "model.init_from"


def _fingerprint(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    parts = [str(path.resolve())] + [
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files
    ]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def _convert(source: Path, dest: Path) -> None:
    try:
        trained = load(source)
    except CheckpointError as exc:
        raise RecipeError(f"{KEY}: {exc}") from None
    with atomic_dir(dest) as scratch:
        trained.model.save_pretrained(scratch)
        trained.tokenizer.save_pretrained(scratch)
        follow_umask(scratch)  # safetensors makes private files
    log.info("%s: %s converted to a Hugging Face folder at %s", KEY, source, dest)


def hf_folder(init_from: str, cache_root: Path, timeout: float = 3600.0) -> Path:
    """A Hugging Face folder holding ``init_from``'s weights (itself, or a hub id's snapshot)."""
    try:
        source = locate(init_from)
    except CheckpointError as exc:
        raise RecipeError(f"{KEY}: {exc}") from None
    if not source.exists():
        raise RecipeError(f"{KEY}: {init_from} does not exist")
    kind = kind_of(source)
    if kind == "hf_folder":
        why = incomplete_model_folder(source)  # else a traceback while the model is built
        if why is not None:
            raise RecipeError(
                f"{KEY}: {init_from} is not a whole Hugging Face folder ({why}); "
                f"export it again, or point {KEY} at a complete one"
            )
        return source
    if kind not in ("composer_file", "sharded"):
        raise RecipeError(
            f"{KEY}: {init_from} is not a Hugging Face folder (config.json), a Composer "
            "checkpoint file or a sharded checkpoint folder (.metadata)"
        )
    dest = cache_root / f"{source.name.removesuffix('.pt')}-{_fingerprint(source)}"
    if dest.is_dir():
        return dest
    if os.environ.get("LOCAL_RANK", "0") == "0":
        _convert(source, dest)
        return dest
    deadline = time.monotonic() + timeout
    while not dest.is_dir():  # local rank 0 is converting
        if time.monotonic() > deadline:
            raise RecipeError(f"{KEY}: timed out waiting for local rank 0 to convert {init_from}")
        time.sleep(1.0)
    return dest


def _tokenizer(path: Path, key: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise RecipeError(
            f"{key}: cannot load the tokenizer at {path} ({first_line(exc)})"
        ) from None


def check_tokenizer(init_from: str, folder: Path, tokenizer_path: str | None) -> None:
    """Refuse weights that do not fit their tokenizer, and a ``tokenizer.path`` that is not theirs.

    ``folder``: ``init_from`` as a Hugging Face folder. Its own tokenizer (else ``tokenizer.path``)
    must fit its embedding rows; ``tokenizer.path`` must map tokens to the same ids.
    """
    rows = json.loads((folder / "config.json").read_text()).get("vocab_size")
    own = _tokenizer(folder, KEY) if has_tokenizer(folder) else None
    given = _tokenizer(Path(tokenizer_path), "tokenizer.path") if tokenizer_path else None
    fitted = own if own is not None else given
    shortfall = embedding_shortfall(len(fitted), int(rows)) if fitted and rows else None
    if shortfall:
        where = f"saved in {folder}" if own is not None else f"tokenizer.path={tokenizer_path}"
        raise RecipeError(
            f"{KEY}: {init_from}: {shortfall} (its tokenizer {where}); start from weights saved "
            "with the tokenizer they were trained with"
        )
    difference = vocabulary_difference(own, given) if own is not None and given else None
    if difference:
        raise RecipeError(
            f"tokenizer.path: {tokenizer_path} is another vocabulary than the tokenizer saved "
            f"with {KEY} ({folder}): {difference}; its ids would mean other words to the "
            f"weights. Leave tokenizer.path unset (a fine-tune) or set it to {folder} to use "
            "the weights' own tokenizer"
        )
