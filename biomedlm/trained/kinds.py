"""The kinds of trained model the project reads (Hugging Face folder, LoRA adapters, Composer
checkpoint file or sharded folder), and whether one is whole (cheap: no tensor read).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Literal

from biomedlm.trained.unpickle import UnsafePickle, read_dcp_metadata

TRUST_FLAG = "--trust-checkpoint"
Kind = Literal["hf_folder", "adapters", "composer_file", "sharded"]
SAFETENSORS_INDEX = "model.safetensors.index.json"
# a saved tokenizer: its config, a fast tokenizer's file, or a GPT-2 BPE's vocabulary and merges
# alone (the released BioMedLM's layout)
TOKENIZER_FILES = (("tokenizer_config.json",), ("tokenizer.json",), ("vocab.json", "merges.txt"))
BIN_INDEX = "pytorch_model.bin.index.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; one line naming the path."""


class UntrustedCheckpoint(CheckpointError):
    """A checkpoint whose pickles name code outside the allow-list; refused unless trusted."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (library errors run to many lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_sharded(path: Path) -> bool:
    """A sharded (distributed checkpoint) Composer checkpoint folder."""
    return path.is_dir() and (path / ".metadata").is_file()


def kind_of(path: Path) -> Kind | None:
    """Which kind of trained model ``path`` is, from its files; None for none of them."""
    if path.is_file():
        return "composer_file"
    if not path.is_dir():
        return None
    if is_sharded(path):
        return "sharded"
    if (path / "config.json").is_file():
        return "hf_folder"
    return "adapters" if (path / "adapter_config.json").is_file() else None


def has_tokenizer(folder: Path) -> bool:
    """Whether ``folder`` holds a tokenizer transformers' ``AutoTokenizer`` can read."""
    return any(all((folder / name).is_file() for name in files) for files in TOKENIZER_FILES)


def incomplete(path: Path) -> str | None:
    """Why ``path`` is not a whole Composer checkpoint (a save cut off), or None when it is.

    A ``.pt`` zip's central directory is written last (its pickle's CRC is checked too); a
    sharded folder needs its ``.metadata`` (written last) and every byte range it names.
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
        return f"not a whole zip archive ({size} bytes: {first_line(exc)})"
    return None


def corrupt(path: Path) -> str | None:
    """Why a whole-looking checkpoint *file*'s bytes are not the ones saved (every zip member's
    CRC-32: reads the whole file), or None; CRCs turned off (all 0) and sharded folders pass.
    """
    if path.is_dir():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            if all(info.CRC == 0 for info in archive.infolist() if info.file_size):
                return None
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a whole zip archive ({first_line(exc)})"
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


def _safetensors_cut(path: Path) -> str | None:
    """Why a safetensors file is not whole, from its header (length, then each tensor's range)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if size < 8 or length > size - 8:
                raise ValueError
            header = json.loads(f.read(length))
        end = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0
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
    """Why Hugging Face folder (or adapters export) ``folder`` cannot be whole, or None: its
    weights (or the shards its index names) present and, from their headers, not cut off.
    """
    if kind_of(folder) == "adapters":
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
