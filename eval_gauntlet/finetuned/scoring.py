"""Score a fine-tuned model on its recipe's test sets, with its task family's scorer.

Used by the ``finetune_eval`` callback (after fit, every rank) and ``python -m eval_gauntlet
finetuned`` (a saved checkpoint, read by :func:`load_finetuned`). A family is an entry in
:data:`SCORERS`. A scorer runs on every rank, each scoring its share; rank 0 writes the
predictions and returns the rows, which :func:`score_finetuned` records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biomedlm.finetune.choice.model import choice_head
from biomedlm.finetune.recipe import FinetuneRecipe
from biomedlm.trained.kinds import CheckpointError
from biomedlm.trained.load import load
from biomedlm.trained.names import checkpoint_name, step_of_name
from eval_gauntlet.errors import UnreadableCheckpoint
from eval_gauntlet.finetuned import choice, generation
from eval_gauntlet.results import record
from eval_gauntlet.rows import Checkpoint

SCORERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "multiple_choice": choice.score,
    "classification": choice.score,
    "generation": generation.score,
}


@dataclass(frozen=True)
class Loaded:
    """A fine-tuned model read back for scoring, and what the results call it."""

    model: Any
    tokenizer: Any
    checkpoint: Checkpoint


def load_finetuned(
    path: Path, recipe: FinetuneRecipe, device: str = "cpu", *, trust: bool = False
) -> Loaded:
    """The fine-tuned model at ``path`` on ``device``, named ``<run_name>-<checkpoint>``; an
    export's step is its ``ba<step>`` name's. Unreadable: one-line :class:`UnreadableCheckpoint`.
    """
    head = choice_head(recipe) if recipe.task != "generation" else None  # the choice families'
    try:
        trained = load(path, head=head, trust=trust)
    except CheckpointError as exc:
        raise UnreadableCheckpoint(str(exc)) from None
    progress = trained.progress  # None for an export: it does not record how far training went
    step = progress.batch if progress else step_of_name(path)
    tokens = progress.tokens if progress else None
    name = f"{recipe.run_name}-{checkpoint_name(path)}"
    return Loaded(trained.model.to(device), trained.tokenizer, Checkpoint(name, step, tokens))


def score_finetuned(
    model: Any,
    tokenizer: Any,
    recipe: Any,
    checkpoint: Checkpoint,
    *,
    keep: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    **how: Any,
) -> list[dict[str, Any]]:
    """Score ``recipe``'s test sets with its family's scorer (``how``: its device, precision) and
    record the rows (rank 0), first passed through ``keep`` where given (the after-fit callback
    keeps each step's files)."""
    rows = SCORERS[recipe.task](model, tokenizer, recipe, checkpoint, **how)
    if rows:
        rows = keep(rows) if keep else rows
        record(Path(recipe.eval.out), rows)
    return rows
