"""LoRA for every fine-tuning family: the recipe's ``model.lora`` as llm-foundry's ``peft_config``, its exports.

llm-foundry's Hugging Face models take a ``peft_config`` and Composer wraps the model with
``peft`` (only the adapters and the added tokens' rows train). Composer checkpoints hold every
weight (``should_save_peft_only: false``; Composer's default keeps only ``lora_`` keys and would
drop the trained token rows, so a resume would restart them): a relaunch resumes exactly and a
checkpoint reads back alone (:func:`biomedlm.trained.load.load`).

Exports go through ``finetune_export`` (llm-foundry's ``hf_checkpointer``), which on a PEFT model
saves ``PeftModel.save_pretrained``'s output: the adapters (``adapter_config.json``,
``adapter_model.safetensors``; with grown embedding rows, those rows too) and the tokenizer, not
the base weights. ``model.lora.export``:

- ``adapters``: that, as is; :func:`biomedlm.trained.load.load` reads it back onto its base
  model;
- ``merged`` (the default): the ``finetune_export`` callback (:mod:`biomedlm.finetune.export`)
  folds the adapters into the weights before saving, so the export is a plain Hugging Face
  folder that every reader of the project (the gauntlet, generate) and the Auto classes load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from biomedlm.finetune.recipe import LoraConfig


def peft_config(
    lora: LoraConfig, trainable_tokens: Sequence[int] = (), task_type: str = "CAUSAL_LM"
) -> dict[str, Any]:
    """``model.lora`` as a ``peft`` LoRA config (GPT-2's Conv1D: fan-in-fan-out), every family's.

    ``trainable_tokens``: ids of added tokens (a layout's separator) whose embedding rows train
    beside the adapters (peft's ``trainable_token_indices``: the other rows stay frozen; a merge
    writes the trained rows into the embedding, tied output layer included). ``task_type``:
    ``CAUSAL_LM`` (generation), ``SEQ_CLS`` (the choice models: peft then trains the head too).
    """
    config: dict[str, Any] = {
        "peft_type": "LORA",
        "task_type": task_type,
        "r": lora.r,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": list(lora.target_modules),
        "fan_in_fan_out": True,
    }
    if trainable_tokens:
        config["trainable_token_indices"] = list(trainable_tokens)
    return config
