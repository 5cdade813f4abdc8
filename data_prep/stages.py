"""Restartable stages: done-markers with fingerprints, and outputs that appear only when complete.

A stage's marker (``<work>/<stage>.done.json``) stores the fingerprint of everything the stage
depends on (its config section and its inputs' fingerprints) and the statistics it produced, so
a rerun skips a finished stage and still reports its numbers; a changed config redoes the stage
and every stage after it. Outputs are written into a temporary sibling and renamed when complete,
so an interrupted run never leaves a half-written output under its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def fingerprint(*parts: Any) -> str:
    """A stable short hash of JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; on success it replaces ``final`` at once."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class StageMarkers:
    """Done-markers of a run's stages, kept in its work folder."""

    def __init__(self, work_dir: Path, force: bool = False) -> None:
        self.work_dir = work_dir
        self.force = force

    def _path(self, stage: str) -> Path:
        return self.work_dir / f"{stage}.done.json"

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
        write_json_atomic(self._path(stage), record)
        return record

    def clear(self, stage: str) -> None:
        self._path(stage).unlink(missing_ok=True)
