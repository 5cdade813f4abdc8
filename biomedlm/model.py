"""The BioMedLM model family: Hugging Face ``GPT2LMHeadModel`` through llm-foundry's HF wrapper.

Registered in llm-foundry's ``models`` registry as ``biomedlm`` (docs/pretraining.md).
Checkpoints of a LoRA run hold every weight (``should_save_peft_only: false``): Composer's
filter keeps only ``lora_`` keys, dropping the rows trained through ``trainable_token_indices``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmfoundry.models.hf import ComposerHFCausalLM
from transformers import AutoConfig, PreTrainedTokenizerBase

from biomedlm.attention import attention_for
from biomedlm.vocabulary import grow_embeddings, padded_vocab_size

log = logging.getLogger(__name__)

ARCHITECTURE_DIR = Path(__file__).with_name("architecture")
DROPOUTS = ("resid_pdrop", "embd_pdrop", "attn_pdrop")


def gpt2_overrides(
    n_layers: int, d_model: int, n_heads: int, max_seq_len: int, vocab_size: int, dropout: float
) -> dict[str, Any]:
    """The GPT2Config fields a recipe sets."""
    return {
        "n_layer": n_layers,
        "n_embd": d_model,
        "n_head": n_heads,
        "n_positions": max_seq_len,
        "vocab_size": vocab_size,
        **dropout_overrides(dropout),
    }


def architecture(n_layers: int, d_model: int, n_heads: int) -> dict[str, Any]:
    """The GPT-2 config a recipe without ``init_from`` builds, as far as what it computes: the
    architecture file at the recipe's sizes (vocabulary, positions and dropout are set at build).
    """
    config = json.loads((ARCHITECTURE_DIR / "config.json").read_text())
    return {**config, "n_layer": n_layers, "n_embd": d_model, "n_head": n_heads}


def dropout_overrides(dropout: float | None) -> dict[str, float]:
    """GPT2Config's three dropout rates, all ``dropout`` (none when it is None)."""
    return {} if dropout is None else dict.fromkeys(DROPOUTS, dropout)


def token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int | None]:
    """The config's ``bos/eos/pad_token_id`` of ``tokenizer``: ``generate`` stops at the config's
    EOS, which differs between tokenizers (data_prep's is 0, BioMedLM's 28895).
    """
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    if tokenizer.pad_token_id is not None:
        ids["pad_token_id"] = tokenizer.pad_token_id
    return ids


def set_token_ids(model: Any, ids: Mapping[str, int | None]) -> None:
    """A Hugging Face model's config and generation config given ``ids`` (:func:`token_ids`)."""
    for key, value in ids.items():
        setattr(model.config, key, value)
        if getattr(model, "generation_config", None) is not None:
            setattr(model.generation_config, key, value)


class BioMedLM(ComposerHFCausalLM):
    """A BioMedLM-architecture GPT-2 as a Composer model, from scratch or from a local HF dir."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        n_layers: int | None = None,
        d_model: int | None = None,
        n_heads: int | None = None,
        max_seq_len: int | None = None,
        dropout: float | None = 0.0,
        init_from: str | None = None,
        init_device: str = "cpu",
        attn_implementation: str = "sdpa",
        should_save_peft_only: bool = False,
        **kwargs: Any,
    ) -> None:
        vocab_size = padded_vocab_size(len(tokenizer))
        if init_from is None:
            if n_layers is None or d_model is None or n_heads is None or max_seq_len is None:
                raise ValueError(
                    "model: n_layers, d_model, n_heads and max_seq_len are needed without init_from"
                )
            overrides = gpt2_overrides(
                n_layers, d_model, n_heads, max_seq_len, vocab_size, dropout or 0.0
            )
            source, pretrained = str(ARCHITECTURE_DIR), False
        else:
            overrides = dropout_overrides(dropout)
            source, pretrained = init_from, True
        config = AutoConfig.from_pretrained(source, local_files_only=True)
        self._n_tokens = len(tokenizer)  # read by transform_model, before the Module exists
        self._token_ids = token_ids(tokenizer)
        super().__init__(
            tokenizer=tokenizer,
            pretrained_model_name_or_path=source,
            pretrained=pretrained,
            trust_remote_code=False,
            init_device=init_device,
            config_overrides=overrides,
            attn_implementation=attention_for(config, attn_implementation),
            should_save_peft_only=should_save_peft_only,
            **kwargs,
        )
        n_params = sum(p.numel() for p in self.model.parameters())
        n_trained = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        log.info(
            "BioMedLM model: %s parameters, %s trained (vocab %d)",
            f"{n_params:,}", f"{n_trained:,}", self.model.get_input_embeddings().weight.shape[0],
        )  # fmt: skip
        hf_model = self.model.get_base_model() if self.using_peft else self.model
        positions = getattr(hf_model.base_model, "wpe", None)  # a lookup: no flops
        self.n_matmul_params = n_params - (positions.weight.numel() if positions else 0)

    def transform_model(self, model: Any) -> Any:
        """Embedding rows for every token (padded to 64) and the tokenizer's special ids in the
        config; llm-foundry calls it before wrapping the model (LoRA).
        """
        grow_embeddings(model, self._n_tokens)
        set_token_ids(model, self._token_ids)
        return model

    def flops_per_batch(self, batch: Mapping[str, Any]) -> int:
        """Training flops of a batch (3x forward) for Composer's MFU: a multiply-add per weight
        and token (the tied embedding once), plus attention's two ``seq x seq`` products.
        """
        batch_size, seq_len = batch["input_ids"].shape[:2]
        config = self.model.config
        per_seq = (
            2 * self.n_matmul_params * seq_len + 4 * config.n_layer * config.n_embd * seq_len**2
        )
        return 3 * per_seq * batch_size
