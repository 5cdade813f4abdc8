"""``finetune_eval``: score the fine-tuned model on its recipe's test sets once, when training ends.

The fine-tuning launch adds it with the resolved recipe (``eval.test_after_fit``); every rank
scores its share at ``fit_end`` (the model may be FSDP-wrapped), rank 0 writes the rows. Its rows
are named after the run, so its predictions are also kept under ``ba<step>/`` (a relaunch that
trains further scores again).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from composer.core import Callback, State
from composer.loggers import Logger

from eval_gauntlet.finetuned.scoring import score_finetuned
from eval_gauntlet.rows import Checkpoint, keep_by_step

log = logging.getLogger(__name__)


class FinetuneEval(Callback):
    """After fit: the test split (and ``eval.extra``) scored once, rows in the results."""

    def __init__(self, recipe: dict[str, Any]) -> None:
        from biomedlm.finetune.recipe import FinetuneRecipe
        from strict_config import merge_structured

        self.recipe = merge_structured(FinetuneRecipe, [recipe], "finetune_eval.recipe")

    def fit_end(self, state: State, logger: Logger) -> None:
        recipe = self.recipe
        if not recipe.eval.test_after_fit:
            return
        tokens = int(state.timestamp.token)  # every family's loader counts its tokens
        checkpoint = Checkpoint(recipe.run_name, int(state.timestamp.batch), tokens or None)
        model = state.model
        rows = score_finetuned(
            model,
            getattr(model, "tokenizer", None),
            recipe,
            checkpoint,
            keep=keep_by_step,
            device=state.device.tensor_to_device(torch.zeros(0)).device,
            precision=state.precision.value,
        )
        for row in rows:
            logger.log_metrics({f"finetune/{row['task']}/{row['metric']}": row["value"]})
        if rows:  # rank 0's
            log.info("fine-tuned scores in %s", recipe.eval.out)
