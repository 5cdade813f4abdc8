"""Read a trained model back: a Hugging Face directory or a Composer checkpoint.

A Composer checkpoint of a Hugging Face-based model carries the model's config and tokenizer
in its ``integrations`` state, so it needs nothing else to be loaded; its timestamp says how
far training had gone. Two layouts, as the trainer's ``save_folder`` holds them:

- ``ep0-ba60-rank0.pt``: one file (DDP, or FSDP with ``state_dict_type: full``);
- ``ep0-ba60/`` with ``.metadata`` and ``__<rank>_0.distcp`` shards (FSDP's ``sharded``, as
  the GPU recipes write): read in one process, model weights only, with torch's distributed
  checkpoint reader.

Only the model, the Hugging Face state and the timestamp are read: never the optimizer state.
Nothing a checkpoint's pickles name is called beyond a fixed allow-list of Composer's types
(:mod:`biomedlm.safe_unpickle`) unless the caller trusts the checkpoint (``trust=True``, the
``--trust-checkpoint`` flag of the commands). Hugging Face folders are read by transformers,
which reads safetensors, or ``.bin`` weights with ``weights_only``, and runs no remote code.
Every failure to load is one :class:`CheckpointError` line naming the path.
"""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biomedlm.safe_unpickle import UnsafePickle, load_sharded, read_dcp_metadata, torch_load

log = logging.getLogger(__name__)
TRUST_FLAG = "--trust-checkpoint"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; one line naming the path."""


class UntrustedCheckpoint(CheckpointError):
    """A checkpoint whose pickles name code outside the allow-list; refused unless trusted."""


@dataclass(frozen=True)
class Progress:
    """How far training had gone when a checkpoint was written."""

    batch: int
    tokens: int
    samples: int = 0
    epochs: int = 0


def load_pretrained(
    path: Path, dtype: str = "auto", *, trust: bool = False
) -> tuple[Any, Any, Progress | None]:
    """Model, tokenizer and progress from a Hugging Face directory or a Composer checkpoint.

    ``dtype`` applies to a Hugging Face directory ("auto": as saved, e.g. a bf16 export); its
    progress is None (an export does not record how far training had gone). ``trust`` lets a
    Composer checkpoint's pickles call anything (only for checkpoints the user trusts).
    Anything raised while loading becomes one :class:`CheckpointError` line: a truncated
    ``model.safetensors``, an export without its tokenizer files, a half-written checkpoint.
    """
    try:
        if path.is_dir() and not is_sharded(path):
            return (*_load_hf_directory(path, dtype), None)
        return load_composer_checkpoint(path, trust=trust)
    except CheckpointError:
        raise
    except Exception as exc:  # any library error, made one line naming the path
        log.debug("loading %s failed", path, exc_info=True)
        raise CheckpointError(
            f"{path}: cannot load it ({type(exc).__name__}: {_first(exc)})"
        ) from None


def _load_hf_directory(path: Path, dtype: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: not a Hugging Face model directory (no config.json)")
    check_model_folder(path)
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


def incomplete(path: Path) -> str | None:
    """Why ``path`` is not a whole Composer checkpoint (a save cut off), or None when it is.

    Cheap, no tensor read: a ``.pt`` file is a zip archive whose central directory is written
    last, so a cut-off file has none; its pickle (not the tensors) is read to check its CRC. A
    sharded folder needs its ``.metadata`` (written last) and every byte range it names in the
    shard files. A ``.metadata`` naming code outside the allow-list is not judged here.
    """
    if path.is_dir():
        return _incomplete_shards(path)
    size = path.stat().st_size
    if size == 0:
        return "0 bytes"
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
            if not pickles:
                return "no data.pkl in the archive"
            archive.read(pickles[0])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a whole zip archive ({size} bytes: {_first(exc)})"
    return None


def corrupt(path: Path) -> str | None:
    """Why a whole-looking checkpoint *file*'s bytes are not the ones saved, or None.

    Every zip member's CRC-32 (torch writes one per record) is checked against its bytes, which
    reads the whole file (:meth:`zipfile.ZipFile.testzip`): a flipped bit in a tensor, size
    intact, that :func:`incomplete` cannot see. A file saved with torch's CRCs turned off
    (``torch.serialization.set_crc32_options(False)``: every CRC 0) cannot be checked and passes.
    A sharded folder passes too: torch's distributed checkpoint stores no checksum, so only what
    :func:`incomplete` reads of it is checked (``.metadata`` unpickled, each shard's byte range).
    """
    if path.is_dir():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            if all(info.CRC == 0 for info in archive.infolist() if info.file_size):
                return None
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a whole zip archive ({_first(exc)})"
    return None if bad is None else f"bad CRC-32 in {bad}: its bytes are not the ones saved"


def _incomplete_shards(path: Path) -> str | None:
    if not (path / ".metadata").is_file():
        return "no .metadata"
    try:
        metadata = read_dcp_metadata(path, trust=False)
    except UnsafePickle:
        return None
    except Exception as exc:  # any unpickling failure: a cut-off or corrupt .metadata
        return f"unreadable .metadata ({type(exc).__name__})"
    ends: dict[str, int] = {}
    for info in metadata.storage_data.values():
        ends[info.relative_path] = max(ends.get(info.relative_path, 0), info.offset + info.length)
    for name, end in sorted(ends.items()):
        shard = path / name
        if not shard.is_file():
            return f"{name} missing"
        if shard.stat().st_size < end:
            return f"{name} cut off at {shard.stat().st_size} of {end} bytes"
    return None


SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_INDEX = "pytorch_model.bin.index.json"


def _safetensors_cut(path: Path) -> str | None:
    """Why a safetensors file is not whole, from its header alone (no tensor is read).

    The file is an 8-byte header length, a JSON header naming each tensor's byte range, then the
    tensors: a file shorter than its header's last range ends was cut off.
    """
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if size < 8 or length > size - 8:
                raise ValueError
            header = json.loads(f.read(length))
        end = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
            default=0,
        )
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return f"{path.name} is cut off or corrupt: no whole header in its {size:,} bytes"
    if size < 8 + length + end:
        return f"{path.name} is cut off at {size:,} of {8 + length + end:,} bytes"
    return None


def _weights_cut(path: Path) -> str | None:
    if not path.is_file():
        return f"{path.name} missing"
    if path.suffix == ".safetensors":
        return _safetensors_cut(path)
    why = incomplete(path)  # a .bin is a torch zip archive, as a Composer checkpoint file
    return f"{path.name}: {why}" if why else None


def incomplete_model_folder(folder: Path) -> str | None:
    """Why Hugging Face folder ``folder`` cannot be whole, or None when it can.

    Cheap, before anything loads: its weights (``model.safetensors``, the shards its index
    names, ``pytorch_model.bin``, or an adapters export's ``adapter_model.*``) present and, from
    their headers, not cut off. An export interrupted while writing fails here in one line
    instead of inside transformers (the tokenizer files are left to the tokenizer's loader).
    """
    if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        candidates = ["adapter_model.safetensors", "adapter_model.bin"]
    else:
        candidates = [SAFETENSORS_INDEX, "model.safetensors", BIN_INDEX, "pytorch_model.bin"]
        if not (folder / "config.json").is_file():
            return "no config.json"
    found = next((folder / name for name in candidates if (folder / name).is_file()), None)
    if found is None:
        return "no " + " or ".join(name for name in candidates if "index" not in name)
    paths = [found]
    if found.name in (SAFETENSORS_INDEX, BIN_INDEX):
        try:
            shards = sorted(set(json.loads(found.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError):
            return f"{found.name} is unreadable"
        paths = [folder / shard for shard in shards]
    return next((why for why in map(_weights_cut, paths) if why is not None), None)


def check_model_folder(folder: Path) -> None:
    """Raise one :class:`CheckpointError` line if ``folder`` (an export) is not whole."""
    why = incomplete_model_folder(folder)
    if why is not None:
        raise CheckpointError(
            f"{folder}: an incomplete model folder ({why}); was its export cut off by a crash or "
            "a full disk? Export it again, or use a complete one"
        )


def _read_state(path: Path, trust: bool) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        if is_sharded(path):
            keys = {f"state.{key}" for key in KEYS}
            state = load_sharded(path, keys, trust=trust)["state"]
        elif path.is_file():  # memory-mapped: the optimizer state is never read into memory
            state = torch_load(path, trust=trust, mmap=True)["state"]
        else:
            raise CheckpointError(
                f"{path}: neither a checkpoint file nor a sharded checkpoint (no .metadata)"
            )
    except UnsafePickle as exc:
        raise UntrustedCheckpoint(
            f"{path}: refused: its pickles name code outside Composer's checkpoint types ({exc}); "
            f"loading it could run that code. Pass {TRUST_FLAG} only if you trust who made it"
        ) from None
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


TOKENIZER_FILE_TYPES = (".json", ".txt", ".model", ".jinja")  # what Composer writes, less .py


def load_saved_tokenizer(path: Path, hf_state: dict[str, Any], folder: Path) -> Any:
    """The tokenizer a Composer checkpoint saved, written into ``folder`` and loaded from it.

    Composer's ``load_huggingface_tokenizer_from_saved_state`` writes every file the checkpoint
    lists to ``folder / name``, so a crafted checkpoint (plain dicts and strings: it passes the
    pickle allow-list) could name ``/abs/path/module.py`` and plant code anywhere. Each name is
    checked first: a bare file name, of a data type a tokenizer uses (``.py`` never: no remote
    code is run), else the checkpoint is refused whatever ``trust`` says.
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
            or full in (".", "..")
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


def load_composer_checkpoint(path: Path, *, trust: bool = False) -> tuple[Any, Any, Progress]:
    """The HF model and tokenizer saved in a Composer checkpoint (file or sharded folder).

    Composer 0.32's ``hf_from_composer_checkpoint`` returned a model whose weights differ from
    the checkpoint's here, so the weights are loaded explicitly (and checked: nothing unexpected).
    A LoRA run's checkpoint (its ``peft_config`` saved beside the model's; the frozen weights,
    the adapters and the trained token rows all in it) is read into the ``peft`` model it was
    and returned merged, a plain causal LM.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    state = _read_state(path, trust)
    hf_state = state["integrations"]["huggingface"]
    content = dict(hf_state["model"]["config"]["content"])
    config = AutoConfig.for_model(content.pop("model_type"), **content)
    model = AutoModelForCausalLM.from_config(config)
    weights = {
        k.removeprefix("model."): v for k, v in state["model"].items() if k.startswith("model.")
    }
    peft = hf_state["model"].get("peft_config")
    if peft is not None:
        model = _with_adapters(path, model, peft["content"], weights)
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
    if peft is not None:
        model = model.merge_and_unload()
    if config.tie_word_embeddings:
        model.tie_weights()
    with tempfile.TemporaryDirectory() as scratch:  # else Composer leaves a folder in the cwd
        tokenizer = load_saved_tokenizer(path, hf_state, Path(scratch))
    timestamp = state["timestamp"]["Timestamp"]
    return model, tokenizer, Progress(int(timestamp["batch"]), int(timestamp["token"]))


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
        raise CheckpointError(f"{path}: its LoRA config does not apply ({_first(exc)})") from None


def read_progress(path: Path) -> Progress:
    """How far training had gone at a Composer checkpoint (file or sharded folder), cheaply.

    Only the timestamp is read, safely (the run's own checkpoint, read before relaunching): a
    file is memory-mapped, a sharded folder's other keys are never loaded.
    """
    try:
        if is_sharded(path):
            state = load_sharded(path, {"state.timestamp"}, trust=False)["state"]
        else:
            state = torch_load(path, trust=False, mmap=True)["state"]
        fields = state["timestamp"]["Timestamp"]
    except (UnsafePickle, RuntimeError, EOFError, OSError, KeyError, TypeError,
            pickle.UnpicklingError) as exc:  # fmt: skip
        raise CheckpointError(f"{path}: cannot read its timestamp ({_first(exc)})") from None
    return Progress(
        int(fields["batch"]), int(fields["token"]), int(fields["sample"]), int(fields["epoch"])
    )
