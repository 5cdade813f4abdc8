"""Record a launch's recipe and identity once it trains (:mod:`biomedlm.run_record`).

Added by ``biomedlm.train`` to every run; written at ``FIT_START`` by global rank 0, so a launch
that fails before training never becomes the recipe in effect.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import dist
from omegaconf import DictConfig, OmegaConf

from biomedlm.run_record import record_launch, write_record
from biomedlm.settings import TrainingSettings

log = logging.getLogger(__name__)
NAME = "run_record"


def _plain(value: Any) -> Any:
    """llm-foundry hands callback arguments over as OmegaConf nodes: back to plain data."""
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


class RunRecord(Callback):
    """Write the run's record when training starts (see the module docstring)."""

    def __init__(
        self,
        run_dir: str,
        recipe: dict[str, Any],
        identity: dict[str, Any],
        save_folder: str | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.recipe = _plain(recipe)
        self.identity = _plain(identity)
        self.save_folder = save_folder

    def fit_start(self, state: State, logger: Logger) -> None:
        if dist.get_global_rank() != 0:
            return
        record_launch(Path(self.run_dir), self.recipe)
        if self.save_folder:
            where = write_record(self.save_folder, self.recipe, self.identity)
            log.info("recorded the run's recipe, tokenizer and data in %s", where)


def register() -> None:
    """Make ``run_record`` a callback llm-foundry builds (by call: it is added, never configured)."""
    from llmfoundry.registry import callbacks

    if NAME not in callbacks.get_all():
        callbacks.register(NAME, func=RunRecord)


def run_record_callback(
    recipe: TrainingSettings, resolved: dict[str, Any], identity: dict[str, Any]
) -> dict[str, Any]:
    """The ``callbacks`` entry of llm-foundry's config that records this launch (registered)."""
    register()
    return {
        NAME: {
            "run_dir": recipe.run_dir,
            "recipe": resolved,
            "identity": identity,
            "save_folder": recipe.save_folder,
        }
    }
