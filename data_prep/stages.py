"""Restartable stages: done-markers with fingerprints, and outputs that appear only when complete.

A marker (``<folder>/<stage>.done.json``) keeps the fingerprint of what its stage depends on and
the statistics it produced, so a rerun skips a finished stage and still reports its numbers.
Every temporary has ``.tmp-`` in its name, so the next run (holding the folder's lock) can remove
what a killed run left; temporaries are opened up to the umask before they take their final name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

TMP = ".tmp-"  # the mark of every temporary name
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


@cache
def umask() -> int:
    """The process's umask (read once, in the main thread, by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A new empty folder in ``parent`` named ``<prefix>XXXXXXXX``, with the umask's mode."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, 0o777 & ~umask())
    return path


def remove_temporaries(folders: Iterable[Path]) -> list[Path]:
    """Delete every ``.tmp-`` entry directly inside ``folders`` (left by a killed run)."""
    removed = [p for f in folders if f.is_dir() for p in f.iterdir() if TMP in p.name]
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; on success it replaces ``final`` at once."""
    tmp = make_temp_dir(final.parent, f".{final.name}{TMP}")
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}{TMP}old-{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename (mode from the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP}", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
