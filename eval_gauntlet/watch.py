"""Each complete checkpoint of a folder scored exactly once, separately from training.

A checkpoint (a ``ba<step>`` export, a Composer file or sharded folder) is read once all its
files exist and none changed for ``settle`` seconds; it counts as scored once ``results.jsonl``
holds what scoring it as now writes (:func:`scored_checkpoints`; docs/reliability.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biomedlm.trained.names import (
    SHARDED_FOLDER,
    checkpoint_name,
    composer_position,
    step_in_name,
)
from eval_gauntlet.rows import RESULTS, repair_rows, rows_of

log = logging.getLogger(__name__)
REQUIRED = ("config.json", "tokenizer_config.json")
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def find_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Exports (``ba<step>/``) and Composer checkpoints (rank 0's files, sharded folders), in the
    order they were saved (``ep9-ba70`` before ``ep10-ba70``)."""
    found = []
    for path in folder.iterdir():
        step = step_in_name(path.name)  # the `latest` links are not checkpoints of their own
        if step is not None and path.is_dir() != path.name.endswith(".pt"):
            found.append((step, path))
    return sorted(found, key=lambda f: (composer_position(f[1].name) or (f[0], -1), f[1].name))


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
        if SHARDED_FOLDER.match(path.name):
            if not (path / ".metadata").is_file():
                return False
        elif not all((path / name).is_file() for name in REQUIRED) or not any(
            (path / name).is_file() for name in WEIGHTS
        ):
            return False
    return fingerprint(path)[1] > 0


@dataclass(frozen=True)
class Expected:
    """What scoring a checkpoint with one selection records (default: only its average)."""

    tasks: frozenset[tuple[str, int]] = frozenset()  # a task row per (task, shots)
    average: bool = True  # an average row after them (the selection completes a category)
    shots: int | None = None  # the average's (--shots)
    alike: Callable[[dict[str, Any]], bool] = lambda row: True  # a task row scored as it scores


def scored_checkpoints(out_dir: Path, expected: Expected = Expected()) -> set[str]:
    """Checkpoints whose whole evaluation with this selection is recorded, each (task, shots)
    last scored alike: without an average, a selection completing no category would be scored
    again on every pass."""
    tasks: dict[str, dict[tuple[str, int], bool]] = {}  # its latest row scored alike
    last_task: dict[str, int] = {}  # where the selection's last task row is
    last_average: dict[str, int] = {}  # where the last average (of any --shots) is
    averaged: set[str] = set()  # checkpoints with this selection's average
    for index, row in enumerate(rows_of(out_dir)):
        name, kind = str(row.get("checkpoint")), row.get("kind")
        if kind == "task" and (pair := (row.get("task"), row.get("shots"))) in expected.tasks:
            tasks.setdefault(name, {})[pair] = expected.alike(row)
            last_task[name] = index
        elif kind == "average":  # a re-score at another --shots also ends with its average
            last_average[name] = index
            if row.get("shots") == expected.shots:
                averaged.add(name)
    return {
        name
        for name in {*tasks, *averaged}
        if {pair for pair, alike in tasks.get(name, {}).items() if alike} >= expected.tasks
        and (
            not expected.average
            or (name in averaged and last_average[name] > last_task.get(name, -1))
        )
    }


@dataclass
class _Readiness:
    """Whether a checkpoint can be read now, and what has been said about each."""

    settle: float
    broken_after: float
    writer_gone: bool = False  # no file can be mid-write any more: nothing to settle
    unreadable: dict[Path, tuple[float, int]] = field(default_factory=dict)  # its fingerprint
    told: dict[Path, tuple[float, int]] = field(default_factory=dict)  # "still being written"

    def of(self, path: Path) -> tuple[tuple[float, int], str | None]:
        """``path``'s fingerprint, and why it is skipped this pass (None: read it now)."""
        before = fingerprint(path)
        if self.unreadable.get(path) == before:
            return before, "unreadable, unchanged since"
        age = time.time() - before[0]
        whole = has_all_files(path)
        if not whole and (self.writer_gone or age >= self.broken_after):
            log.error(
                "error: %s: incomplete (files missing or empty) and unchanged for %.0f s; "
                "skipped until it changes",
                path,
                age,
            )
            self.unreadable[path] = before
            return before, "incomplete"
        if not whole or (age < self.settle and not self.writer_gone):
            if self.told.get(path) != before:
                log.info("%s: still being written, will look again", path)
                self.told[path] = before
            return before, "still being written"
        return before, None


@dataclass
class WatchReport:
    """What a watch scored, and what it left unscored at its last pass (name -> why)."""

    scored: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def watch(
    folder: Path,
    out_dir: Path,
    score: Callable[[Path, str, int], bool],
    expected: Expected = Expected(),
    once: bool = False,
    interval: float = 10.0,
    settle: float = 5.0,
    idle_timeout: float | None = None,
    broken_after: float = 600.0,
    running: Callable[[], bool] | None = None,
) -> WatchReport:
    """Score every complete checkpoint not scored as ``expected`` with ``score(path, name, step)``.

    One ``score`` could not read, or one still missing files ``broken_after`` seconds unchanged, is
    skipped until it changes. With ``once``, one pass; else poll every ``interval`` seconds while
    ``running()`` (then a last pass, settling nothing), or until ``idle_timeout`` passes idle.
    """
    repair_rows(out_dir / RESULTS)
    report = WatchReport()
    readiness = _Readiness(settle, broken_after)
    last_new = time.monotonic()
    while True:
        last = once or (running is not None and not running())
        readiness.writer_gone = last and running is not None
        report.skipped = {}
        done = scored_checkpoints(out_dir, expected)
        pending = (
            [(s, p) for s, p in find_checkpoints(folder) if checkpoint_name(p) not in done]
            if folder.is_dir()
            else []
        )
        for step, path in pending:
            name = checkpoint_name(path)
            try:
                before, why = readiness.of(path)
            except FileNotFoundError:  # removed meanwhile (rotation of old checkpoints)
                continue
            if why is not None:
                report.skipped[name] = why
                continue
            log.info("scoring %s (step %d)", path, step)
            if score(path, name, step):
                report.scored.append(name)
            else:
                readiness.unreadable[path] = before
                report.skipped[name] = "unreadable"
            last_new = time.monotonic()
        if last:
            return report
        if idle_timeout is not None and time.monotonic() - last_new > idle_timeout:
            log.info("no new checkpoint for %.0f s; stopping", idle_timeout)
            return report
        time.sleep(interval)
