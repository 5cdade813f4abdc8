"""LoRA for every fine-tuning family: the recipe's ``model.lora`` as llm-foundry's ``peft_config``
(exports: :mod:`biomedlm.finetune.export`; docs/fine-tuning.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from biomedlm.finetune.recipe import LoraConfig


def peft_config(
    lora: LoraConfig, trainable_tokens: Sequence[int] = (), task_type: str = "CAUSAL_LM"
) -> dict[str, Any]:
    """``model.lora`` as a ``peft`` LoRA config (GPT-2's Conv1D: fan-in-fan-out), every family's.

    ``trainable_tokens``: added tokens whose embedding rows train beside the adapters (the other
    rows stay frozen). ``task_type``: ``CAUSAL_LM``, or ``SEQ_CLS`` (peft trains the head too).
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
