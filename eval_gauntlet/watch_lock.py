"""One watcher per results folder, and the training process it serves.

The lock is data_prep's ``flock`` on ``OUT/watcher.lock``: the kernel drops it when the process
ends, however it ends, so a stale pid never blocks a new watcher (the pid and host in the file
are only for the message). The training process announces itself (pid and start time, so a
reused pid is not mistaken for it) in ``OUT/trainer.json`` and marks its end there. A watcher whose trainer is
gone follows a relaunch's announcement: it releases the lock before reading the announcement,
and the launch announces before trying the lock, so one of the two always watches.
"""

from __future__ import annotations

import contextlib
import json
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from data_prep.files import write_text_atomic
from data_prep.lock import LockHeld, exclusive

LOCK = "watcher.lock"
TRAINER = "trainer.json"


class FolderBusy(Exception):
    """Another watcher holds the folder's lock."""


class FolderLock:
    """An exclusive, non-blocking ``flock`` on ``OUT/watcher.lock`` while held
    (:func:`data_prep.lock.exclusive`: this pid and host written into it)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK
        self.held = ExitStack()

    def acquire(self) -> None:
        """Take the lock, or raise :class:`FolderBusy` naming the holder."""
        try:
            self.held.enter_context(exclusive(self.path))
        except LockHeld as busy:
            raise FolderBusy(
                f"{self.path.parent} is watched by another process ({busy.holder}, lock "
                f"{self.path}); one watcher per output folder"
            ) from None

    def release(self) -> None:
        self.held.close()

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_free(out_dir: Path) -> bool:
    """Whether no watcher holds ``out_dir``'s lock right now (taken and dropped at once)."""
    try:
        with FolderLock(out_dir):
            return True
    except FolderBusy:
        return False


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]  # a zombie has ended


@dataclass(frozen=True)
class Trainer:
    """A training process, known by its pid and start time."""

    pid: int
    start: str | None = None
    ended: bool = False

    @classmethod
    def of(cls, pid: int) -> Trainer:
        return cls(pid, _start_time(pid))

    def same(self, other: Trainer) -> bool:
        return (self.pid, self.start) == (other.pid, other.start)

    def alive(self) -> bool:
        """Still running: the pid exists and (where it can be read) started when it did."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: it exists
            pass
        return self.start is None or _start_time(self.pid) == self.start


def announce(out_dir: Path, trainer: Trainer) -> None:
    """Write ``OUT/trainer.json`` (atomically): the run the folder's watcher serves."""
    text = json.dumps({"pid": trainer.pid, "start": trainer.start, "ended": trainer.ended})
    write_text_atomic(out_dir / TRAINER, text + "\n")


def announced(out_dir: Path) -> Trainer | None:
    """The trainer named in ``OUT/trainer.json``, if any (an unreadable file names none)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        raw = json.loads((out_dir / TRAINER).read_text())
        return Trainer(int(raw["pid"]), raw.get("start"), bool(raw.get("ended", False)))
    return None


def still_training(out_dir: Path, trainer: Trainer) -> bool:
    """``trainer`` is alive and has not announced its end."""
    now = announced(out_dir)
    return trainer.alive() and not (now is not None and now.same(trainer) and now.ended)


def successor(out_dir: Path, trainer: Trainer) -> Trainer | None:
    """A relaunch of the run announced after ``trainer``, still training; else None."""
    now = announced(out_dir)
    if now is None or now.same(trainer) or now.ended or not now.alive():
        return None
    return now
