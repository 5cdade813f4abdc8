"""llm-foundry's ``hf_checkpointer`` for LoRA runs whose export merges the adapters into the weights.

On a PEFT model, ``hf_checkpointer`` saves what ``PeftModel.save_pretrained`` saves: the adapters
alone. This subclass folds them into the base weights first (``merge_and_unload``), so the export
is a plain Hugging Face folder any reader loads. A fine-tuning recipe with ``model.lora.export:
merged`` gets it in place of ``hf_checkpointer``, with the same arguments
(:func:`biomedlm.finetune.lora.export_callbacks`). Registered as ``hf_checkpointer_merged``.
"""

from __future__ import annotations

import logging
from typing import Any

from llmfoundry.callbacks import HuggingFaceCheckpointer

log = logging.getLogger(__name__)


class MergedHFCheckpointer(HuggingFaceCheckpointer):
    """llm-foundry's ``hf_checkpointer``, saving a LoRA model with its adapters merged in."""

    def transform_model_and_tokenizer(self, model: Any, tokenizer: Any) -> tuple[Any, Any]:
        from peft import PeftModel

        if isinstance(model, PeftModel):
            # The export's tensors share storage with the live model's (llm-foundry loads the
            # gathered state with assign=True): an in-place merge would fold the adapters into
            # the weights still training. safe_merge writes merged copies instead.
            model = model.merge_and_unload(safe_merge=True)
            log.info("hf export: LoRA adapters merged into the weights")
        return model, tokenizer
