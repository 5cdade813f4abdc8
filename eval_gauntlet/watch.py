"""Score each new checkpoint of a training run exactly once, separately from training.

Usage::

    python -m eval_gauntlet watch runs/debug-cpu/hf/huggingface --out runs/debug-cpu/eval
    python -m eval_gauntlet watch runs/debug-cpu/hf/huggingface --once     # what is ready, then exit

The watched folder holds Hugging Face exports named ``ba<step>`` (what llm-foundry's
``hf_checkpointer`` callback writes during training) or Composer checkpoints, as a run's
``save_folder`` holds them: ``ep<epoch>-ba<step>-rank0.pt`` files, or ``ep<epoch>-ba<step>/``
sharded folders (FSDP ``state_dict_type: sharded``); the ``latest`` links are skipped.
A checkpoint is read only once it is complete: an export's config, weights and tokenizer files
exist (a sharded folder's ``.metadata``, written last), and nothing in it has changed for
``settle`` seconds (the exporter and Composer's saver both write in place, so a checkpoint
being written is never read). A checkpoint counts as
scored once its gauntlet average (written last) is in ``results.jsonl``; killed and restarted,
the watcher re-scores nothing that finished, and a checkpoint cut off mid-way is scored again
(the table keeps the latest row of each task).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

from eval_gauntlet.results import RESULTS, read_rows

log = logging.getLogger(__name__)
EXPORT = re.compile(r"^ba(\d+)$")
SHARDED = re.compile(r"^ep\d+-ba(\d+)$")
COMPOSER = re.compile(r"^ep\d+-ba(\d+)-rank0\.pt$")
REQUIRED = ("config.json", "tokenizer_config.json")
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def find_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Exports (``ba<step>``) and Composer checkpoints (files, sharded folders), by step."""
    found = []
    for path in folder.iterdir():
        patterns = (EXPORT, SHARDED) if path.is_dir() else (COMPOSER,)
        for pattern in patterns:
            if m := pattern.match(path.name):
                found.append((int(m.group(1)), path))
    return sorted(found)


def checkpoint_name(path: Path) -> str:
    """The name a checkpoint has in the results: ``ba60``, ``ep0-ba60-rank0``, ``ep0-ba60``."""
    return path.name.removesuffix(".pt")


def fingerprint(path: Path) -> tuple[float, int]:
    """Newest modification time and total size of a checkpoint file or folder's files."""
    files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]
    stats = [p.stat() for p in files]
    return max((s.st_mtime for s in stats), default=0.0), sum(s.st_size for s in stats)


def is_complete(path: Path, settle: float, now: float | None = None) -> bool:
    """All files present and none changed in the last ``settle`` seconds."""
    if path.is_dir():
        if SHARDED.match(path.name):
            if not (path / ".metadata").is_file():
                return False
        elif not all((path / name).is_file() for name in REQUIRED) or not any(
            (path / name).is_file() for name in WEIGHTS
        ):
            return False
    newest, size = fingerprint(path)
    return size > 0 and (now if now is not None else time.time()) - newest >= settle


def scored_checkpoints(out_dir: Path) -> set[str]:
    """Checkpoints whose whole evaluation (the gauntlet summary) is recorded."""
    path = out_dir / RESULTS
    if not path.is_file():
        return set()
    return {str(r["checkpoint"]) for r in read_rows(path) if r.get("kind") == "average"}


def watch(
    folder: Path,
    out_dir: Path,
    score: Callable[[Path, str, int], bool],
    once: bool = False,
    interval: float = 10.0,
    settle: float = 5.0,
    idle_timeout: float | None = None,
) -> list[str]:
    """Score every complete, unscored checkpoint with ``score(path, name, step)``; returns them.

    ``score`` returns False for a checkpoint it could not read; that one is tried again only
    once it changes. With ``once``, stop after one pass; otherwise poll every ``interval``
    seconds until ``idle_timeout`` seconds pass without a new checkpoint (forever when None).
    """
    scored: list[str] = []
    unreadable: dict[Path, tuple[float, int]] = {}  # path -> its fingerprint when it failed
    last_new = time.monotonic()
    while True:
        done = scored_checkpoints(out_dir)
        pending = (
            [(s, p) for s, p in find_checkpoints(folder) if checkpoint_name(p) not in done]
            if folder.is_dir()
            else []
        )
        for step, path in pending:
            try:
                before = fingerprint(path)
                if unreadable.get(path) == before:
                    continue
                if not is_complete(path, settle):
                    log.info("%s: still being written, will look again", path)
                    continue
            except FileNotFoundError:  # removed meanwhile (rotation of old checkpoints)
                continue
            log.info("scoring %s (step %d)", path, step)
            if score(path, checkpoint_name(path), step):
                scored.append(checkpoint_name(path))
            else:
                unreadable[path] = before
            last_new = time.monotonic()
        if once:
            return scored
        if idle_timeout is not None and time.monotonic() - last_new > idle_timeout:
            log.info("no new checkpoint for %.0f s; stopping", idle_timeout)
            return scored
        time.sleep(interval)
