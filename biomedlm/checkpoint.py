"""Read a trained model back: a Hugging Face directory or a Composer checkpoint.

A Composer checkpoint of a Hugging Face-based model carries the model's config and tokenizer
in its ``integrations`` state, so it needs nothing else to be loaded; its timestamp says how
far training had gone. Two layouts, as the trainer's ``save_folder`` holds them:

- ``ep0-ba60-rank0.pt``: one file (DDP, or FSDP with ``state_dict_type: full``);
- ``ep0-ba60/`` with ``.metadata`` and ``__<rank>_0.distcp`` shards (FSDP's ``sharded``, as
  the GPU recipes write): read in one process, model weights only, with torch's distributed
  checkpoint reader.

Only the model, the Hugging Face state and the timestamp are read: never the optimizer state.
"""

from __future__ import annotations

import pickle
import tempfile
import warnings
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
    samples: int = 0
    epochs: int = 0


def load_pretrained(path: Path, dtype: str = "auto") -> tuple[Any, Any, Progress | None]:
    """Model, tokenizer and progress from a Hugging Face directory or a Composer checkpoint.

    ``dtype`` applies to a Hugging Face directory ("auto": as saved, e.g. a bf16 export); its
    progress is None (an export does not record how far training had gone).
    """
    if path.is_dir() and not is_sharded(path):
        return (*_load_hf_directory(path, dtype), None)
    return load_composer_checkpoint(path)


def _load_hf_directory(path: Path, dtype: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: not a Hugging Face model directory (no config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, torch_dtype=torch_dtype
        )
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot load model and tokenizer ({_first(exc)})") from None
    return model, tokenizer


def _first(exc: BaseException) -> str:
    """The first line of an exception's message (library errors run to many lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


KEYS = ("model", "integrations", "timestamp")


def is_sharded(path: Path) -> bool:
    """A sharded (distributed checkpoint) Composer checkpoint folder."""
    return path.is_dir() and (path / ".metadata").is_file()


def _read_state(path: Path) -> dict[str, Any]:
    import torch

    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        if is_sharded(path):
            from torch.distributed.checkpoint.state_dict_loader import _load_state_dict_from_keys

            with warnings.catch_warnings():  # "no process group: loading in one process"
                warnings.simplefilter("ignore", UserWarning)
                keys = {f"state.{key}" for key in KEYS}
                state = _load_state_dict_from_keys(keys, checkpoint_id=str(path))["state"]
        elif path.is_file():  # memory-mapped: the optimizer state is never read into memory
            state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)["state"]
        else:
            raise CheckpointError(
                f"{path}: neither a checkpoint file nor a sharded checkpoint (no .metadata)"
            )
    except (RuntimeError, EOFError, OSError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        raise CheckpointError(
            f"{path}: not a complete Composer checkpoint (half-written or corrupt: {_first(exc)})"
        ) from None
    if "huggingface" not in state.get("integrations", {}):
        raise CheckpointError(
            f"{path}: a Composer checkpoint without a Hugging Face model in it; "
            "only Hugging Face-based models (model.name: biomedlm) can be read back"
        )
    return state


def load_composer_checkpoint(path: Path) -> tuple[Any, Any, Progress]:
    """The HF model and tokenizer saved in a Composer checkpoint (file or sharded folder).

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
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # shapes that differ from the saved config
        raise CheckpointError(
            f"{path}: checkpoint does not fit its saved config ({_first(exc)})"
        ) from None
    derived = ("attn.bias", "lm_head.weight") if config.tie_word_embeddings else ("attn.bias",)
    if unexpected or any(not k.endswith(derived) for k in missing):
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


def read_progress(path: Path) -> Progress:
    """How far training had gone at a Composer checkpoint (file or sharded folder), cheaply.

    Only the timestamp is read: a file is memory-mapped, a sharded folder's other keys are
    never loaded.
    """
    import torch

    try:
        if is_sharded(path):
            from torch.distributed.checkpoint.state_dict_loader import _load_state_dict_from_keys

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                loaded = _load_state_dict_from_keys({"state.timestamp"}, checkpoint_id=str(path))
            timestamp = loaded["state"]["timestamp"]
        else:
            timestamp = torch.load(path, map_location="cpu", weights_only=False, mmap=True)[
                "state"
            ]["timestamp"]
        fields = timestamp["Timestamp"]
    except (RuntimeError, EOFError, OSError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"{path}: cannot read its timestamp ({_first(exc)})") from None
    return Progress(
        int(fields["batch"]), int(fields["token"]), int(fields["sample"]), int(fields["epoch"])
    )
