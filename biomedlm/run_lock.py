"""One launch at a time per training run: ``<run_dir>/.lock``, held from the launch's first check.

Two launches on one ``run_dir`` would both train, writing the same checkpoints. The lock is
data_prep's ``flock`` (the kernel drops it however its holder exits), taken by global rank 0
before anything in the run's folders is touched: a checkpoint a live run is writing looks like
a save cut off by a crash.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from biomedlm.settings import RecipeError
from data_prep.lock import LOCK_NAME, LockHeld, exclusive

log = logging.getLogger(__name__)


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the ``with`` block (global rank 0 only); a ``run_dir`` it
    created and left empty is removed. :class:`RecipeError` names another holder.
    """
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    created = not run_dir.exists()
    with ExitStack() as held:
        try:
            stale = held.enter_context(exclusive(run_dir / LOCK_NAME))
        except LockHeld as busy:
            raise RecipeError(
                f"run_dir: another launch ({busy.holder}) is training in {run_dir}; wait for it "
                "to finish, stop it, or give this run another run_dir (or run_name)"
            ) from None
        if stale is not None:
            log.warning(
                "%s: took over the lock of an earlier launch (%s) that ended without releasing "
                "it (killed)",
                run_dir,
                stale,
            )
        try:
            yield
        finally:
            if created and [p.name for p in run_dir.iterdir()] == [LOCK_NAME]:
                with suppress(OSError):  # nothing of the run was written: leave no folder
                    (run_dir / LOCK_NAME).unlink()
                    run_dir.rmdir()
