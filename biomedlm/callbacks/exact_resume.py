"""``exact_resume``: restore the RNG state when a run resumes mid-epoch from a streaming dataset.

Composer 0.32 applies a checkpoint's RNG state only at an epoch's start or while it spins a
plain dataloader forward, never when the dataset resumes itself (mosaicml-streaming), so with
dropout a resumed run diverged. Here every rank's state is saved with each checkpoint and
restored at the first batch after a resume (after it is fetched, before its forward pass).
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
