"""Read a trained model back: a Hugging Face directory or a Composer checkpoint file.

A Composer checkpoint (``ep0-ba60-rank0.pt``, as the trainer's ``save_folder`` holds them) of a
Hugging Face-based model carries the model's config and tokenizer in its ``integrations``
state, so it needs nothing else to be loaded. Its timestamp says how far training had gone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; one line naming the path."""


@dataclass(frozen=True)
class Progress:
    """How far training had gone when a checkpoint was written."""

    batch: int
    tokens: int


def load_pretrained(path: Path) -> tuple[Any, Any]:
    """(model, tokenizer) from a Hugging Face directory or a Composer checkpoint file."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path}: not a Hugging Face model directory (no config.json)")
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
        return model, AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model, tokenizer, _ = load_composer_checkpoint(path)
    return model, tokenizer


def _read_state(path: Path) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)["state"]
    except (RuntimeError, EOFError, OSError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a complete Composer checkpoint (half-written or corrupt: {first})"
        ) from None
    if "huggingface" not in state.get("integrations", {}):
        raise CheckpointError(
            f"{path}: a Composer checkpoint without a Hugging Face model in it; "
            "only Hugging Face-based models (model.name: biomedlm) can be read back"
        )
    return state


def load_composer_checkpoint(path: Path) -> tuple[Any, Any, Progress]:
    """The HF model and tokenizer saved in a Composer checkpoint, with its trained weights.

    Composer 0.32's ``hf_from_composer_checkpoint`` returned a model whose weights differ from
    the checkpoint's here, so the weights are loaded explicitly (and checked: nothing unexpected).
    """
    from composer.models import HuggingFaceModel
    from transformers import AutoConfig, AutoModelForCausalLM

    state = _read_state(path)
    hf_state = state["integrations"]["huggingface"]
    content = dict(hf_state["model"]["config"]["content"])
    config = AutoConfig.for_model(content.pop("model_type"), **content)
    model = AutoModelForCausalLM.from_config(config)
    weights = {
        k.removeprefix("model."): v for k, v in state["model"].items() if k.startswith("model.")
    }
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not k.endswith(("attn.bias", "lm_head.weight")) for k in missing):
        raise CheckpointError(
            f"{path}: checkpoint does not fit its saved config ({(missing + unexpected)[:3]})"
        )
    if config.tie_word_embeddings:
        model.tie_weights()
    with tempfile.TemporaryDirectory() as scratch:  # else Composer leaves a folder in the cwd
        tokenizer = HuggingFaceModel.load_huggingface_tokenizer_from_saved_state(
            hf_state, tokenizer_save_dir=scratch
        )
    timestamp = state["timestamp"]["Timestamp"]
    return model, tokenizer, Progress(int(timestamp["batch"]), int(timestamp["token"]))
