"""Restore the RNG state when a run resumes mid-epoch from a streaming dataset.

Composer 0.32 restores the RNG state of a checkpoint only at the start of an epoch, or while it
spins a plain dataloader forward; when the dataset resumes itself (mosaicml-streaming), the
mid-epoch branch is skipped and the saved state is never applied, so with dropout a resumed run
diverges from an uninterrupted one. This callback saves every rank's RNG state with each
checkpoint and restores it at the first batch after a resume, the point an uninterrupted run
would have reached with that state (after the batch is fetched, before its forward pass).

Registered as ``exact_resume``; no arguments::

    callbacks:
      exact_resume: {}
"""

from __future__ import annotations

import logging
from typing import Any

from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import reproducibility

log = logging.getLogger(__name__)


class ExactResume(Callback):
    """Carry the RNG state of every rank through checkpoints; apply it on the first resumed batch."""

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": reproducibility.get_rng_state()}  # gathered from every rank

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = state.get("rng")

    def batch_start(self, state: State, logger: Logger) -> None:
        if self._pending is not None:
            reproducibility.load_rng_state(self._pending)
            self._pending = None
            log.info("restored the checkpoint's RNG state at batch %d", int(state.timestamp.batch))
