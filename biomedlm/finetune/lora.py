"""LoRA for every fine-tuning family: the recipe's ``model.lora`` as llm-foundry's ``peft_config``, its exports.

llm-foundry's Hugging Face models take a ``peft_config`` and Composer wraps the model with
``peft`` (only the adapters and the added tokens' rows train). Composer checkpoints hold every
weight (``should_save_peft_only: false``; Composer's default keeps only ``lora_`` keys and would
drop the trained token rows, so a resume would restart them): a relaunch resumes exactly and a
checkpoint reads back alone (:func:`biomedlm.checkpoint.load_composer_checkpoint`).

Exports go through ``finetune_export`` (llm-foundry's ``hf_checkpointer``), which on a PEFT model
saves ``PeftModel.save_pretrained``'s output: the adapters (``adapter_config.json``,
``adapter_model.safetensors``; with grown embedding rows, those rows too) and the tokenizer, not
the base weights. ``model.lora.export``:

- ``adapters``: that, as is; :func:`load_adapters` reads it back onto its base model
  (``python -m biomedlm.generate`` does);
- ``merged`` (the default): the ``finetune_export`` callback (:mod:`biomedlm.finetune.export`)
  folds the adapters into the weights before saving, so the export is a plain Hugging Face
  folder that every reader of the project (the gauntlet, generate) and the Auto classes load.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
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


def is_adapters_folder(path: Path) -> bool:
    """An adapters-only export (``adapter_config.json``, no ``config.json``)."""
    return (path / "adapter_config.json").is_file() and not (path / "config.json").is_file()


def load_adapters(path: Path, base: Path | None = None) -> tuple[Any, Any]:
    """Model (adapters merged) and tokenizer of an adapters export, on its base model.

    The base is the folder the adapters were trained on (``base_model_name_or_path`` in
    ``adapter_config.json``, the run's ``model.init_from`` as a Hugging Face folder) unless
    ``base`` is given; its embedding rows are grown to the export's tokenizer first.
    """
    from peft import PeftModel
    from transformers import AutoTokenizer

    from biomedlm.checkpoint import CheckpointError, check_model_folder, load_pretrained
    from biomedlm.vocabulary import grow_embeddings

    check_model_folder(path)
    config = json.loads((path / "adapter_config.json").read_text())
    base = base or Path(config.get("base_model_name_or_path") or "")
    if not (base / "config.json").is_file():
        raise CheckpointError(
            f"{path}: LoRA adapters whose base model {str(base)!r} is not a Hugging Face folder "
            "here; export with model.lora.export=merged, or keep the base at that path"
        )
    model, _, _ = load_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    grow_embeddings(model, len(tokenizer))
    merged = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    return merged, tokenizer
