"""One run at a time per folder: an advisory ``flock`` on a lock file, the holder named in it.

The kernel drops the lock however its holder exits (``kill -9`` too), so a stale lock blocks no
one; a holder clears its record (pid, host) when it lets go, so a record the next holder finds was
left by one that died. Forked workers close their copy, so an orphan never keeps the folder locked.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from data_prep.document import PrepError

LOCK_NAME = ".lock"
_held: set[int] = set()  # descriptors of the locks this process holds


def _close_in_child() -> None:
    for fd in _held:
        with suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a lock, as its file records it."""

    pid: str
    host: str  # empty in a record written before hosts were recorded

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.host else f"pid {self.pid}"


class LockHeld(Exception):
    """Another live process holds the lock."""

    def __init__(self, holder: Holder) -> None:
        super().__init__(str(holder))
        self.holder = holder


def _record(fd: int) -> Holder | None:
    fields = os.pread(fd, 256, 0).decode(errors="replace").split()
    if not fields:
        return None
    return Holder(fields[0], fields[1] if len(fields) > 1 else "")


@contextmanager
def exclusive(path: Path) -> Iterator[Holder | None]:
    """Hold an exclusive ``flock`` on ``path`` for the ``with`` block, recording this pid and host;
    yields the record a holder that died left (or None); :class:`LockHeld` if another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(_record(fd) or Holder("unknown", "")) from None
        stale = _record(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        _held.add(fd)
        try:
            yield stale
        finally:
            _held.discard(fd)
            os.ftruncate(fd, 0)  # let go cleanly: no record left for the next holder
    finally:
        os.close(fd)


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the ``with`` block; another live run's lock is a one-line error."""
    with ExitStack() as held:
        try:
            held.enter_context(exclusive(out / LOCK_NAME))
        except LockHeld as busy:
            raise PrepError(
                f"{out}: another data_prep run (pid {busy.holder.pid}) is writing this "
                "output_dir; wait for it to finish, stop it, or choose another output_dir"
            ) from None
        yield
