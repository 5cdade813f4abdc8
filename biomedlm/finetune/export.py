"""``finetune_export``: the project's ``hf_checkpointer`` (:mod:`biomedlm.callbacks.hf_export`)
plus ``model.lora.export``: adapters merged into the weights, or saved apart (llm-foundry's
saves only the adapters of a LoRA run). Recipe keys: docs/fine-tuning.md.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from composer.core import Time, Timestamp
from composer.utils import format_name_with_dist_and_time

from biomedlm.callbacks.hf_export import FOLDER_NAME, HfExport
from biomedlm.finetune.recipe import LORA_EXPORTS
from biomedlm.model import set_token_ids, token_ids
from biomedlm.trained.load import Progress

log = logging.getLogger(__name__)


class FinetuneExport(HfExport):
    """``hf_checkpointer`` whose LoRA exports are merged into the weights or kept as adapters."""

    def __init__(
        self,
        save_folder: str,
        save_interval: str | int | Time = "1dur",
        lora_export: str = "merged",
        precision: str = "float32",
        huggingface_folder_name: str = FOLDER_NAME,
    ) -> None:
        if lora_export not in LORA_EXPORTS:
            raise ValueError(f"lora_export: {lora_export!r} is not one of {LORA_EXPORTS}")
        super().__init__(save_folder, save_interval, huggingface_folder_name, precision)
        self.lora_export = lora_export

    def transform_model_and_tokenizer(self, model: Any, tokenizer: Any) -> tuple[Any, Any]:
        set_token_ids(model, token_ids(tokenizer))  # generate() stops at the tokenizer's EOS
        if self.using_peft and self.lora_export == "merged":
            # The export's tensors share storage with the training model's (llm-foundry loads
            # the gathered state with assign=True): merging in place would fold the adapters
            # into the live base weights too. safe_merge writes merged copies instead.
            log.info("export: LoRA adapters merged into the weights")
            model = model.merge_and_unload(safe_merge=True)
        return model, tokenizer


SCORING_CALLBACK = "finetune_eval"  # eval_gauntlet.finetuned.callback, by its registered name
EXPORT_CALLBACK = "finetune_export"
AFTER_FIT_CALLBACK = "finetune_after_fit"  # biomedlm.finetune.after_fit: the last, at fit end


def export_folder(args: dict[str, Any], run_name: str, progress: Progress) -> Path | None:
    """The folder ``finetune_export`` (``args``) writes for a checkpoint at ``progress`` (None for
    a remote ``save_folder``).
    """
    save_folder = str(args["save_folder"])
    if "://" in save_folder:
        return None
    name = os.path.join(
        save_folder, "huggingface", args.get("huggingface_folder_name", FOLDER_NAME)
    )
    when = Timestamp(
        epoch=progress.epochs, batch=progress.batch, sample=progress.samples, token=progress.tokens
    )
    return Path(format_name_with_dist_and_time(name, run_name, when))


def task_callbacks(recipe: Any) -> dict[str, dict[str, Any]]:
    """Every family's callbacks: the recipe's, its export told ``model.lora.export``, the after-fit
    scoring (``finetune_eval``, eval_gauntlet's, by registered name), ``finetune_after_fit`` last.
    """
    from biomedlm.foundry_config import enabled
    from biomedlm.recipe_files import resolved

    callbacks = enabled(recipe.callbacks)
    if EXPORT_CALLBACK in callbacks and recipe.model.lora is not None:
        callbacks[EXPORT_CALLBACK].setdefault("lora_export", recipe.model.lora.export)
    if recipe.eval.test_after_fit:
        callbacks[SCORING_CALLBACK] = {"recipe": resolved(recipe)}
    callbacks[AFTER_FIT_CALLBACK] = {"run_dir": recipe.run_dir}  # after the export and scoring
    return callbacks
