"""``model.init_from``: any trained model the project knows, as a Hugging Face folder.

llm-foundry's models start from a Hugging Face folder; a user's weights may also be a Composer
checkpoint file (``ep0-ba60-rank0.pt``) or an FSDP sharded checkpoint folder of a pretraining
run. Those are read once by :mod:`biomedlm.checkpoint` (the reader the gauntlet uses) and written
as a Hugging Face folder under the run (``<run_dir>/init/<name>-<fingerprint>``), keyed by the
checkpoint's path, size and modification time, so a relaunch reuses it and a changed checkpoint
is converted again. On a node, local rank 0 converts; the other ranks wait for the folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from biomedlm.checkpoint import (
    CheckpointError,
    incomplete_model_folder,
    is_sharded,
    load_pretrained,
)
from biomedlm.files import follow_umask
from biomedlm.recipe import RecipeError

log = logging.getLogger(__name__)
KEY = "model.init_from"


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and not is_sharded(path)


def _fingerprint(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    parts = [str(path.resolve())] + [
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files
    ]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def _convert(source: Path, dest: Path) -> None:
    try:
        model, tokenizer, _ = load_pretrained(source)
    except CheckpointError as exc:
        raise RecipeError(f"{KEY}: {exc}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        follow_umask(scratch)  # mkdtemp and safetensors make private folders and files
        os.replace(scratch, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("%s: %s converted to a Hugging Face folder at %s", KEY, source, dest)


def hf_folder(init_from: str, cache_root: Path, timeout: float = 3600.0) -> Path:
    """A Hugging Face folder holding ``init_from``'s weights (itself, when it is one)."""
    source = Path(init_from)
    if not source.exists():
        raise RecipeError(f"{KEY}: {init_from} does not exist")
    if is_hf_folder(source):
        why = incomplete_model_folder(source)  # else a traceback while the model is built
        if why is not None:
            raise RecipeError(
                f"{KEY}: {init_from} is not a whole Hugging Face folder ({why}); "
                f"export it again, or point {KEY} at a complete one"
            )
        return source
    if not (source.is_file() or is_sharded(source)):
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
