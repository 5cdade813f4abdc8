"""Score a fine-tuned model on its recipe's test sets: one module per task family.

The ``finetune_eval`` callback (after fit, on every rank) and ``python -m eval_gauntlet
finetuned`` (a saved checkpoint, later) both come here. A family's module
(:data:`SCORERS`) provides two functions:

``load(path: Path, recipe: FinetuneRecipe, device: str, *, trust: bool = False) -> Loaded``
    the fine-tuned model at ``path`` (an HF export, a Composer checkpoint file or sharded
    folder), on ``device``, for the command line; raises :class:`~eval_gauntlet.errors.GauntletError`.

``score(model, tokenizer, recipe: FinetuneRecipe, checkpoint: Checkpoint, *, device,
precision: str) -> list[dict]``
    scores ``data.test`` (and each ``eval.extra`` set) once. Called on every rank with the same
    arguments: ``model`` is the Composer model, possibly FSDP-wrapped, so every rank runs the
    same number of forward passes on its share of the items; rank 0 writes the per-example
    predictions under ``<eval.out>/predictions/<checkpoint.name>/`` and the ``kind: finetune``
    rows (:func:`eval_gauntlet.results.record`) and returns them; other ranks return [].
    ``precision`` is a Composer precision name (``fp32``, ``amp_bf16``...).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from eval_gauntlet.rows import Checkpoint

SCORERS = {
    "multiple_choice": "eval_gauntlet.finetuned.choice",
    "classification": "eval_gauntlet.finetuned.choice",
    "generation": "eval_gauntlet.finetuned.generation",
}


@dataclass(frozen=True)
class Loaded:
    """A fine-tuned model read back for scoring, and what the results call it."""

    model: Any  # the Composer model
    tokenizer: Any
    checkpoint: Checkpoint


def scorer(task: str) -> ModuleType:
    """The module scoring ``task``'s family."""
    return importlib.import_module(SCORERS[task])


def score_finetuned(
    model: Any,
    tokenizer: Any,
    recipe: Any,
    checkpoint: Checkpoint,
    *,
    device: Any,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """Score ``recipe``'s test sets with its family's scorer (see the module docstring)."""
    module = scorer(recipe.task)
    rows: list[dict[str, Any]] = module.score(
        model, tokenizer, recipe, checkpoint, device=device, precision=precision
    )
    return rows
