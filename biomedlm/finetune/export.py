"""Hugging Face exports of a fine-tuned model, LoRA adapters merged or saved apart.

llm-foundry's ``hf_checkpointer`` gathers the (possibly sharded) weights on rank 0 and saves a
Hugging Face folder with the tokenizer; it rebuilds the model from its own class, so a
classification head exports as well as a causal LM. For a LoRA run it saves only the adapters.
This callback, registered as ``finetune_export``, is ``hf_checkpointer`` plus the choice a LoRA
run needs (``model.lora.export``, filled in at launch):

- ``merged`` (default): the adapters folded into the weights, a standalone model;
- ``adapters``: ``adapter_config.json`` and ``adapter_model.safetensors`` (adapters, the task
  head and the added tokens' embedding rows), to load with ``peft`` over ``model.init_from``.

::

    callbacks:
      finetune_export:
        save_folder: ${run_dir}/hf      # exports in <save_folder>/huggingface/ba<step>
        save_interval: 1dur             # and at the end of training
"""

from __future__ import annotations

import logging
from typing import Any

from composer.core import Time

from biomedlm.callbacks.hf_export import UmaskExport

log = logging.getLogger(__name__)
LORA_EXPORTS = ("merged", "adapters")


class FinetuneExport(UmaskExport):
    """``hf_checkpointer`` whose LoRA exports are merged into the weights or kept as adapters."""

    def __init__(
        self,
        save_folder: str,
        save_interval: str | int | Time = "1dur",
        lora_export: str = "merged",
        precision: str = "float32",
        huggingface_folder_name: str = "ba{batch}",
    ) -> None:
        if lora_export not in LORA_EXPORTS:
            raise ValueError(f"lora_export: {lora_export!r} is not one of {LORA_EXPORTS}")
        super().__init__(
            save_folder=save_folder,
            save_interval=save_interval,
            precision=precision,
            huggingface_folder_name=huggingface_folder_name,
        )
        self.lora_export = lora_export

    def transform_model_and_tokenizer(self, model: Any, tokenizer: Any) -> tuple[Any, Any]:
        if self.using_peft and self.lora_export == "merged":
            # The export's tensors share storage with the training model's (llm-foundry loads
            # the gathered state with assign=True): merging in place would fold the adapters
            # into the live base weights too. safe_merge writes merged copies instead.
            log.info("export: LoRA adapters merged into the weights")
            model = model.merge_and_unload(safe_merge=True)
        return model, tokenizer


SCORING_CALLBACK = "finetune_eval"  # eval_gauntlet.finetuned.callback, by its registered name
EXPORT_CALLBACK = "finetune_export"


def task_callbacks(recipe: Any) -> dict[str, dict[str, Any]]:
    """The recipe's callbacks, its export told the LoRA choice, plus the after-fit scoring.

    Every fine-tuning family's launch uses this: the export (``finetune_export``) learns
    ``model.lora.export``; with ``eval.test_after_fit`` the ``finetune_eval`` callback (in
    eval_gauntlet, downstream, named here only through llm-foundry's registry) gets the resolved
    recipe.
    """
    from biomedlm.recipe import resolved

    callbacks = {name: dict(args) for name, args in recipe.callbacks.items() if args is not None}
    if EXPORT_CALLBACK in callbacks and recipe.model.lora is not None:
        callbacks[EXPORT_CALLBACK].setdefault("lora_export", recipe.model.lora.export)
    if recipe.eval.test_after_fit:
        callbacks[SCORING_CALLBACK] = {"recipe": resolved(recipe)}
    return callbacks
