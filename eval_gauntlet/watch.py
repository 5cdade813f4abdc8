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
(the table keeps the latest row of each task). A checkpoint that cannot be read, or that stays
incomplete for ``broken_after`` seconds (a save killed mid-write), is one error line, skipped,
and tried again once it changes; the report says what was left unscored.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eval_gauntlet.rows import RESULTS, read_rows, repair_rows

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


def step_of_name(path: Path) -> int | None:
    """The step in a checkpoint's name (``ba60``, ``ep0-ba60-rank0.pt``, ``ep0-ba60``), if any."""
    for pattern in (EXPORT, SHARDED, COMPOSER):
        if m := pattern.match(path.name):
            return int(m.group(1))
    return None


def checkpoint_name(path: Path) -> str:
    """The name a checkpoint has in the results: ``ba60``, ``ep0-ba60-rank0``, ``ep0-ba60``."""
    return path.name.removesuffix(".pt")


def fingerprint(path: Path) -> tuple[float, int]:
    """Newest modification time (a folder's own included) and total size of a checkpoint."""
    own = path.stat()
    if not path.is_dir():
        return own.st_mtime, own.st_size
    stats = [p.stat() for p in path.iterdir() if p.is_file()]
    return max([own.st_mtime, *(s.st_mtime for s in stats)]), sum(s.st_size for s in stats)


def has_all_files(path: Path) -> bool:
    """Everything a complete checkpoint has is there (not yet whether it is still changing)."""
    if path.is_dir():
        if SHARDED.match(path.name):
            if not (path / ".metadata").is_file():
                return False
        elif not all((path / name).is_file() for name in REQUIRED) or not any(
            (path / name).is_file() for name in WEIGHTS
        ):
            return False
    return fingerprint(path)[1] > 0


def is_complete(path: Path, settle: float, now: float | None = None) -> bool:
    """All files present and none changed in the last ``settle`` seconds."""
    newest, _ = fingerprint(path)
    age = (now if now is not None else time.time()) - newest
    return has_all_files(path) and age >= settle


def scored_checkpoints(out_dir: Path) -> set[str]:
    """Checkpoints whose whole evaluation (the gauntlet summary) is recorded."""
    path = out_dir / RESULTS
    if not path.is_file():
        return set()
    return {str(r["checkpoint"]) for r in read_rows(path) if r.get("kind") == "average"}


@dataclass
class WatchReport:
    """What a watch scored, and what it left unscored at its last pass (name -> why)."""

    scored: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def watch(
    folder: Path,
    out_dir: Path,
    score: Callable[[Path, str, int], bool],
    once: bool = False,
    interval: float = 10.0,
    settle: float = 5.0,
    idle_timeout: float | None = None,
    broken_after: float = 600.0,
    running: Callable[[], bool] | None = None,
) -> WatchReport:
    """Score every complete, unscored checkpoint with ``score(path, name, step)``.

    ``score`` returns False for a checkpoint it could not read; that one is skipped and tried
    again only once it changes. A checkpoint still missing files after ``broken_after`` seconds
    without a change (a 0-byte file a killed save left) is reported broken and skipped likewise.
    With ``once``, stop after one pass. Otherwise poll every ``interval`` seconds while
    ``running()`` says its writer is training (then make a last pass, settling nothing, as no
    file can be in the middle of a write any more), or until ``idle_timeout`` seconds pass
    without a new checkpoint (forever when both are None).
    """
    repair_rows(out_dir / RESULTS)
    report = WatchReport()
    unreadable: dict[Path, tuple[float, int]] = {}  # path -> its fingerprint when it failed
    told: dict[Path, tuple[float, int]] = {}  # "still being written" said once per fingerprint
    last_new = time.monotonic()
    while True:
        last = once or (running is not None and not running())
        writer_gone = last and running is not None
        report.skipped = {}
        done = scored_checkpoints(out_dir)
        pending = (
            [(s, p) for s, p in find_checkpoints(folder) if checkpoint_name(p) not in done]
            if folder.is_dir()
            else []
        )
        for step, path in pending:
            name = checkpoint_name(path)
            try:
                before = fingerprint(path)
                if unreadable.get(path) == before:
                    report.skipped[name] = "unreadable, unchanged since"
                    continue
                age = time.time() - before[0]
                whole = has_all_files(path)
            except FileNotFoundError:  # removed meanwhile (rotation of old checkpoints)
                continue
            if not whole and (writer_gone or age >= broken_after):
                log.error(
                    "error: %s: incomplete (files missing or empty) and unchanged for %.0f s; "
                    "skipped until it changes",
                    path,
                    age,
                )
                unreadable[path] = before
                report.skipped[name] = "incomplete"
                continue
            if not whole or (age < settle and not writer_gone):
                if told.get(path) != before:
                    log.info("%s: still being written, will look again", path)
                    told[path] = before
                report.skipped[name] = "still being written"
                continue
            log.info("scoring %s (step %d)", path, step)
            if score(path, name, step):
                report.scored.append(name)
            else:
                unreadable[path] = before
                report.skipped[name] = "unreadable"
            last_new = time.monotonic()
        if last:
            return report
        if idle_timeout is not None and time.monotonic() - last_new > idle_timeout:
            log.info("no new checkpoint for %.0f s; stopping", idle_timeout)
            return report
        time.sleep(interval)
