"""Read any trained model back: its model, its tokenizer and how far training had gone.

A Composer checkpoint carries its Hugging Face config and tokenizer; only they, the model and
the timestamp are read, through :mod:`biomedlm.trained.unpickle`'s allow-list unless trusted.
A task head is the caller's (a :class:`Head`), so this reader knows no fine-tuning family.
"""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from biomedlm.attention import attention_for
from biomedlm.trained.hub import locate
from biomedlm.trained.kinds import (
    TRUST_FLAG,
    CheckpointError,
    UntrustedCheckpoint,
    check_model_folder,
    first_line,
    kind_of,
)
from biomedlm.trained.unpickle import UnsafePickle, load_sharded, torch_load

log = logging.getLogger(__name__)
KEYS = ("model", "integrations", "timestamp")
TOKENIZER_FILE_TYPES = (".json", ".txt", ".model", ".jinja")  # what Composer writes, less .py


@dataclass(frozen=True)
class Progress:
    """How far training had gone when a checkpoint was written."""

    batch: int
    tokens: int
    samples: int = 0
    epochs: int = 0


@dataclass(frozen=True)
class Trained:
    """A model read back (in eval mode), its tokenizer, and its progress (None for an export)."""

    model: Any
    tokenizer: Any
    progress: Progress | None


class HeadMismatch(ValueError):
    """Raised by a :class:`Head` for a model it does not fit; the reader adds the path."""


class Head(Protocol):
    """Builds the caller's task model (a Composer ``HuggingFaceModel``) on the config in ``folder``.

    ``config``: the saved one (None: adapters over a base without the head); ``pretrained``:
    ``folder`` holds the weights too; ``peft``: the LoRA config a checkpoint was trained with.
    """

    def __call__(
        self,
        folder: Path,
        tokenizer: Any,
        *,
        config: dict[str, Any] | None,
        pretrained: bool,
        peft: dict[str, Any] | None,
    ) -> Any: ...


def load(
    path: Path, *, head: Head | None = None, trust: bool = False, dtype: str = "auto"
) -> Trained:
    """The trained model at ``path`` (any kind, a hub id, adapters merged onto their base), in
    eval mode; a causal LM without ``head``. ``dtype`` ("auto": as saved) casts the weights;
    ``trust`` lets a checkpoint's pickles call anything. Failures: one :class:`CheckpointError`.
    """
    path = locate(path)
    kind = kind_of(path)
    if kind is None:
        raise CheckpointError(
            f"{path}: no such checkpoint or model folder"
            if not path.exists()
            else f"{path}: not a Hugging Face model directory (no config.json), LoRA adapters "
            "(adapter_config.json) or a Composer checkpoint"
        )
    try:
        if kind == "hf_folder":
            trained = Trained(*_from_folder(path, head, dtype), None)
        elif kind == "adapters":
            trained = Trained(*_from_adapters(path, head, dtype), None)
        else:
            trained = _from_composer(path, head, trust)
        if dtype != "auto":
            import torch

            trained.model.to(getattr(torch, dtype))
    except CheckpointError:
        raise
    except Exception as exc:  # any library error, made one line naming the path
        log.debug("loading %s failed", path, exc_info=True)
        raise CheckpointError(
            f"{path}: cannot load it ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    trained.model.eval()
    return trained


def _build(head: Head, path: Path, folder: Path, tokenizer: Any, **kwargs: Any) -> Any:
    try:
        return head(folder, tokenizer, **kwargs)
    except HeadMismatch as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def _from_folder(path: Path, head: Head | None, dtype: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    check_model_folder(path)  # a cut-off export: one line, not transformers' traceback
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if head is None:
            torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
            attention = attention_for(AutoConfig.from_pretrained(path, local_files_only=True), None)
            model = AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, torch_dtype=torch_dtype, attn_implementation=attention
            )
            return model, tokenizer
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{path}: cannot load model and tokenizer ({first_line(exc)})"
        ) from None
    config = json.loads((path / "config.json").read_text())
    return _build(head, path, path, tokenizer, config=config, pretrained=True, peft=None), tokenizer


def _from_adapters(path: Path, head: Head | None, dtype: str) -> tuple[Any, Any]:
    """Adapters merged onto the base they name, its embedding grown to their tokenizer first."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from biomedlm.vocabulary import grow_embeddings

    check_model_folder(path)
    base = locate(
        json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
    )
    if kind_of(base) != "hf_folder":
        raise CheckpointError(
            f"{path}: LoRA adapters whose base model {str(base)!r} is not a Hugging Face folder "
            "here; export with model.lora.export=merged, or keep the base at that path"
        )
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if head is not None:
        model = _build(head, path, base, tokenizer, config=None, pretrained=True, peft=None)
        model.model = PeftModel.from_pretrained(model.model, str(path)).merge_and_unload()
        return model, tokenizer
    model = load(base, dtype=dtype).model
    grow_embeddings(model, len(tokenizer))
    return PeftModel.from_pretrained(model, str(path)).merge_and_unload(), tokenizer


def _state(path: Path, keys: Iterable[str], trust: bool) -> dict[str, Any]:
    """A Composer checkpoint's ``state``: a file memory-mapped (the optimizer state is never read
    into memory), a sharded folder's ``keys`` only."""
    if kind_of(path) == "sharded":
        return load_sharded(path, {f"state.{key}" for key in keys}, trust=trust)["state"]
    return torch_load(path, trust=trust, mmap=True)["state"]


def _read_state(path: Path, trust: bool) -> dict[str, Any]:
    try:
        state = _state(path, KEYS, trust)
    except UnsafePickle as exc:
        raise UntrustedCheckpoint(
            f"{path}: refused: its pickles name code outside Composer's checkpoint types ({exc}); "
            f"loading it could run that code. Pass {TRUST_FLAG} only if you trust who made it"
        ) from None
    except (RuntimeError, EOFError, OSError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        raise CheckpointError(
            f"{path}: not a complete Composer checkpoint (half-written or corrupt: {first_line(exc)})"
        ) from None
    if "huggingface" not in state.get("integrations", {}):
        raise CheckpointError(
            f"{path}: a Composer checkpoint without a Hugging Face model in it; "
            "only Hugging Face-based models (model.name: biomedlm) can be read back"
        )
    return state


def _saved_tokenizer(path: Path, hf_state: dict[str, Any], folder: Path) -> Any:
    """The tokenizer a Composer checkpoint saved, written into ``folder`` and loaded from it.

    Composer writes each listed file to ``folder / name``, so a crafted checkpoint could name
    ``/abs/path/module.py``: each name must be a bare tokenizer data file, whatever ``trust``.
    """
    from composer.models import HuggingFaceModel

    files = hf_state.get("tokenizer")
    if not isinstance(files, dict):
        raise CheckpointError(f"{path}: its Hugging Face state has no tokenizer files")
    for name, saved in files.items():
        kind = saved.get("file_extension") if isinstance(saved, dict) else None
        full = str(name) if str(name).endswith(str(kind)) else f"{name}{kind}"
        if (
            not isinstance(name, str)
            or kind not in TOKENIZER_FILE_TYPES
            or Path(full).name != full
            or "\\" in full
        ):
            raise CheckpointError(
                f"{path}: refused: its saved tokenizer names a file {full!r} that is not a plain "
                f"tokenizer file ({', '.join(TOKENIZER_FILE_TYPES)}); a checkpoint written by "
                "Composer never does this"
            )
    return HuggingFaceModel.load_huggingface_tokenizer_from_saved_state(
        hf_state, tokenizer_save_dir=str(folder)
    )


def _from_composer(path: Path, head: Head | None, trust: bool) -> Trained:
    from transformers import AutoConfig

    state = _read_state(path, trust)
    hf_state = state["integrations"]["huggingface"]
    saved = dict(hf_state["model"]["config"]["content"])
    config = AutoConfig.for_model(**saved)
    peft = (hf_state["model"].get("peft_config") or {}).get("content")
    with tempfile.TemporaryDirectory() as scratch:  # else Composer leaves a folder in the cwd
        tokenizer = _saved_tokenizer(path, hf_state, Path(scratch))
        if head is None:
            model = _causal_lm(path, config, peft, state["model"])
        else:
            config.save_pretrained(scratch)
            model = _build(
                head, path, Path(scratch), tokenizer, config=saved, pretrained=False, peft=peft
            )
            try:
                model.load_state_dict(state["model"], strict=True)
            except RuntimeError as exc:
                raise CheckpointError(
                    f"{path}: weights do not fit the task model ({first_line(exc)})"
                ) from None
    return Trained(model, tokenizer, _progress(state["timestamp"]["Timestamp"]))


def _causal_lm(path: Path, config: Any, peft: dict[str, Any] | None, state: dict[str, Any]) -> Any:
    """The causal LM a Composer model state holds (a LoRA run's merged). Composer 0.32's
    ``hf_from_composer_checkpoint`` returned other weights, so they are loaded and checked here.
    """
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(
        config, attn_implementation=attention_for(config, None)
    )
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    if peft is not None:
        model = _with_adapters(path, model, peft, weights)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # shapes that differ from the saved config
        raise CheckpointError(
            f"{path}: checkpoint does not fit its saved config ({first_line(exc)})"
        ) from None
    derived = ("attn.bias", "lm_head.weight") if config.tie_word_embeddings else ("attn.bias",)
    if unexpected or any(not k.endswith(derived) for k in missing):
        raise CheckpointError(
            f"{path}: checkpoint does not fit its saved config ({(missing + unexpected)[:3]})"
        )
    if peft is not None:
        model = model.merge_and_unload()
    if config.tie_word_embeddings:
        model.tie_weights()
    return model


def _with_adapters(
    path: Path, model: Any, adapter_config: dict[str, Any], weights: dict[str, Any]
) -> Any:
    """``model`` wrapped in the ``peft`` adapters a checkpoint's ``adapter_config`` describes."""
    from peft import get_peft_config, get_peft_model

    if not any(".base_layer." in k for k in weights):
        raise CheckpointError(
            f"{path}: a LoRA checkpoint holding the adapters only (Composer's "
            "should_save_peft_only): the weights they adapt are not in it; score the run's "
            "Hugging Face export (finetune_export) instead"
        )
    try:
        config = get_peft_config({**adapter_config, "base_model_name_or_path": None})
        return get_peft_model(model, config)  # the weights come from the checkpoint, not a base
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{path}: its LoRA config does not apply ({first_line(exc)})"
        ) from None


def _progress(fields: dict[str, Any]) -> Progress:
    return Progress(
        int(fields["batch"]), int(fields["token"]), int(fields["sample"]), int(fields["epoch"])
    )


# what reading one part of a Composer checkpoint raises when the file is cut off, foreign or unsafe
_UNREADABLE = (UnsafePickle, RuntimeError, EOFError, OSError, KeyError, TypeError,
               pickle.UnpicklingError)  # fmt: skip


def read_progress(path: Path) -> Progress:
    """How far training had gone at a Composer checkpoint: only its timestamp is read, safely."""
    try:
        return _progress(_state(path, ["timestamp"], trust=False)["timestamp"]["Timestamp"])
    except _UNREADABLE as exc:
        raise CheckpointError(f"{path}: cannot read its timestamp ({first_line(exc)})") from None


def read_saved_config(path: Path) -> dict[str, Any]:
    """The Hugging Face config a Composer checkpoint saved: only its integrations are read, safely."""
    try:
        hf_state = _state(path, ["integrations"], trust=False)["integrations"]["huggingface"]
        return dict(hf_state["model"]["config"]["content"])
    except _UNREADABLE as exc:
        raise CheckpointError(
            f"{path}: cannot read its Hugging Face config ({first_line(exc)})"
        ) from None
