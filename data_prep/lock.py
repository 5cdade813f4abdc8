"""One data_prep run at a time per output folder: an advisory ``flock`` on ``OUTPUT_DIR/.lock``.

The kernel drops the lock when its holder exits, however it exits (``kill -9`` included), so a
stale lock cannot exist: a lock that is held belongs to a live run, whose pid the file records
for the error message. Worker processes forked while the lock is held close their copy of its
descriptor, so an orphaned worker never keeps the folder locked after its parent died.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from data_prep.document import PrepError

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"
_held: set[int] = set()  # descriptors of the locks this process holds


def _close_in_child() -> None:
    for fd in _held:
        with suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_in_child)


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the ``with`` block; another live run's lock is a one-line error."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise PrepError(
                f"{out}: another data_prep run (pid {holder}) is writing this output_dir; "
                "wait for it to finish, stop it, or choose another output_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held.add(fd)
        yield
    finally:
        _held.discard(fd)
        os.close(fd)
