"""A run's outputs are published as one set: tokenizer, shards and manifest change together.

Each run builds ``OUTPUT_DIR/.sets/<id>/`` and publishes it by pointing the link ``.current`` at
it (one atomic rename); the :data:`PUBLISHED` names are fixed links through ``.current``. A
training run reads its set by the set's own folder (:func:`hold_current_set`): streaming opens
shard files by name, so reading through the links would switch sets mid-run (docs/reliability.md).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from data_prep.document import PrepError
from data_prep.files import TMP, make_temp_dir

log = logging.getLogger(__name__)

PUBLISHED = ("tokenizer", "train", "validation", "manifest.json")
SETS = ".sets"
CURRENT = ".current"
LEGACY = "legacy"
READERS = ".readers.lock"  # in each set: a shared flock held by every training run reading it
_held: dict[Path, Path] = {}  # prepared folder -> the set this process reads
_held_fds: list[int] = []


def current_set(out: Path) -> Path | None:
    """The published set of ``out``, or None before the first publication."""
    link = out / CURRENT
    if not link.is_symlink():
        return None
    target = out / os.readlink(link)
    return target if target.is_dir() else None


def new_set(out: Path) -> Path:
    """A new, empty, unpublished set folder."""
    set_dir = make_temp_dir(out / SETS, "set-")
    _readers_file(set_dir)
    return set_dir


def staging_sets(out: Path) -> list[Path]:
    """The sets of ``out`` neither published nor read (a killed or failed run's, or an earlier
    published set whose readers have ended)."""
    folder, current = out / SETS, current_set(out)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p != current and not in_use(p))


def _readers_file(set_dir: Path) -> None:
    os.close(os.open(set_dir / READERS, os.O_WRONLY | os.O_CREAT, 0o666))  # the umask applies


@contextmanager
def _unread(set_dir: Path) -> Iterator[bool]:
    """Whether no reader holds ``set_dir``; if none does, none can start for the ``with`` block."""
    fd = None
    for flags in (os.O_RDWR, os.O_RDONLY):  # NFS emulates flock with fcntl: prefers O_RDWR
        try:
            fd = os.open(set_dir / READERS, flags | os.O_CLOEXEC)
            break
        except PermissionError:
            continue
        except FileNotFoundError:
            break  # an unpublished set of an earlier data_prep: nobody reads it
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
        yield True
    finally:
        if fd is not None:
            os.close(fd)


def in_use(set_dir: Path) -> bool:
    """Whether a live training run reads ``set_dir`` (holds its readers' lock)."""
    with _unread(set_dir) as free:
        return not free


def hold_current_set(out: Path) -> Path | None:
    """The set published in ``out`` now, held for reading until this process exits (a rerun
    never removes it), the same for every call; None for a folder data_prep did not publish."""
    key = out.resolve()
    if key in _held:
        return _held[key]
    for _ in range(10):
        current = current_set(out)
        if current is None:
            return None
        fd = _open_readers(current)
        if fd is None:  # cannot be locked (read-only, an earlier layout): read unheld
            _held[key] = current
            return current
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a data_prep run removes it
        if current_set(out) == current and current.is_dir():
            _held[key] = current
            _held_fds.append(fd)
            log.info("%s: reading the set %s", out, current.name)
            return current
        os.close(fd)  # a rerun published another set meanwhile: take that one
    raise PrepError(f"{out}: the published set keeps changing; launch again when data_prep ends")


def release_sets() -> None:
    """Let go of every set this process holds (a process's exit does the same)."""
    for fd in _held_fds:
        os.close(fd)
    _held_fds.clear()
    _held.clear()


def _open_readers(set_dir: Path) -> int | None:
    for flags in (os.O_RDONLY, os.O_RDONLY | os.O_CREAT):
        try:
            return os.open(set_dir / READERS, flags | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            continue
        except OSError:
            break
    log.warning(
        "%s: cannot lock this set for reading; a data_prep rerun may remove it during training",
        set_dir,
    )
    return None


def publish(out: Path, set_dir: Path) -> None:
    """Make ``set_dir`` the published set of ``out`` at once, then remove every other set that
    no training run reads."""
    _readers_file(set_dir)
    tmp = out / f"{CURRENT}{TMP}{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(set_dir, out), tmp)
    os.replace(tmp, out / CURRENT)
    _sync(out)
    for name in PUBLISHED:
        link = out / name
        if (set_dir / name).exists():
            if not link.is_symlink():
                os.symlink(f"{CURRENT}/{name}", link)
        elif link.is_symlink():  # e.g. a split that is now empty
            link.unlink()
    for other in sorted((out / SETS).iterdir()):
        if not other.is_dir() or other.name == set_dir.name:
            continue
        with _unread(other) as free:
            if free:
                shutil.rmtree(other, ignore_errors=True)
        if not free:
            log.info("kept %s: a training run reads it (removed by a rerun after it ends)", other)
    log.info("published %s", set_dir)


def adopt_legacy(out: Path) -> None:
    """Make a folder in another layout a published set again: the earlier layout (real folders
    under the published names), or a copy made by following links (``cp -L``)."""
    legacy = out / SETS / LEGACY
    link = out / CURRENT
    copied = link.is_dir() and not link.is_symlink()
    names = [n for n in PUBLISHED if (out / n).exists() and not (out / n).is_symlink()]
    if not (copied or names or (legacy.is_dir() and current_set(out) != legacy)):
        return
    legacy.parent.mkdir(parents=True, exist_ok=True)
    if copied:
        shutil.rmtree(legacy, ignore_errors=True)
        os.replace(link, legacy)
    legacy.mkdir(exist_ok=True)
    for name in names:
        if not (legacy / name).exists():
            os.replace(out / name, legacy / name)
        elif (out / name).is_dir():  # a duplicate of the adopted set's own
            shutil.rmtree(out / name)
        else:
            (out / name).unlink()
    log.info("%s: outputs in another layout adopted as the current set", out)
    publish(out, legacy)


def _sync(folder: Path) -> None:
    """Make the switch durable (a crash right after it keeps the new set)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
