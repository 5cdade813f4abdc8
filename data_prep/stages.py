"""Restartable stages: done-markers with fingerprints (outputs whole or not at all: ``files``).

A marker (``<folder>/<stage>.done.json``) keeps the fingerprint of what its stage depends on and
the statistics it produced, so a rerun skips a finished stage and still reports its numbers.
"""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path
from typing import Any

from data_prep.files import write_json_atomic

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def fingerprint(*parts: Any) -> str:
    """A stable short hash of JSON-serialisable parts."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: Path, algorithm: str = "sha1") -> str:
    """The hex digest of a file's bytes (a content fingerprint: edited in place, it changes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def disk_full(exc: BaseException) -> OSError | None:
    """The disk-full error behind ``exc`` (itself, or one it was raised from or while handling)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_FULL:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class StageMarkers:
    """Done-markers of a run's stages, kept in one folder (the work folder, or an output set's)."""

    def __init__(self, folder: Path, force: bool = False) -> None:
        self.folder = folder
        self.force = force

    def _path(self, stage: str) -> Path:
        return self.folder / f"{stage}.done.json"

    def finished(self, stage: str, fp: str) -> dict[str, Any] | None:
        """The stored record of ``stage`` if it finished with fingerprint ``fp`` (and not forced)."""
        path = self._path(stage)
        if self.force or not path.is_file():
            return None
        record = json.loads(path.read_text())
        return record if record.get("fingerprint") == fp else None

    def mark(self, stage: str, fp: str, stats: dict[str, Any], seconds: float) -> dict[str, Any]:
        """Record ``stage`` as finished; call only after its outputs are in place."""
        record = {"fingerprint": fp, "seconds": round(seconds, 3), "stats": stats}
        self.store(stage, record)
        return record

    def store(self, stage: str, record: dict[str, Any]) -> None:
        """Write ``stage``'s record (also one copied from another set whose outputs were copied)."""
        write_json_atomic(self._path(stage), record)

    def clear(self, stage: str) -> None:
        self._path(stage).unlink(missing_ok=True)
