"""Read the pickles inside Composer checkpoints without running code from them.

Unpickling calls whatever a pickle names, so a crafted checkpoint runs its payload on the
reader. Unless ``trust=True``, ``.pt`` files and shard entries are read with
``torch.load(weights_only=True)`` plus Composer's few types, and a sharded ``.metadata`` (torch
reads it with plain ``pickle``) through an allow-list; anything else raises :class:`UnsafePickle`.
"""

from __future__ import annotations

import datetime
import importlib
import io
import pickle
import warnings
from pathlib import Path
from typing import IO, Any


class UnsafePickle(ValueError):
    """A pickle that names functions or classes outside the allow-list (they are listed)."""

    def __init__(self, names: list[str]) -> None:
        self.names = sorted(set(names))
        super().__init__(", ".join(self.names) or "a type outside the allow-list")


def composer_types() -> list[Any]:
    """The non-tensor types a Composer 0.32 checkpoint of a Hugging Face model holds (listed from
    real checkpoints' globals): the timestamp's timedeltas, numpy's RNG state, ``TorchVersion``;
    each rebuilds data only.
    """
    import numpy as np
    from torch.torch_version import TorchVersion

    multiarray = importlib.import_module("numpy._core.multiarray")  # numpy 2's private home
    numeric = "bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64"
    return [
        datetime.timedelta,
        TorchVersion,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        *sorted({type(np.dtype(name)) for name in numeric.split()}, key=str),
    ]


def torch_load(source: Path | IO[bytes], *, trust: bool, mmap: bool = False) -> Any:
    """``torch.load`` on CPU; unless ``trust``, with ``weights_only`` and Composer's types only."""
    import torch

    if trust:
        return torch.load(source, map_location="cpu", weights_only=False, mmap=mmap)
    with torch.serialization.safe_globals(composer_types()):
        try:
            return torch.load(source, map_location="cpu", weights_only=True, mmap=mmap)
        except pickle.UnpicklingError as exc:
            if not str(exc).startswith("Weights only load failed"):
                raise
            if isinstance(source, io.IOBase):
                source.seek(0)
            try:  # name what was refused (a static listing of the pickle's globals)
                names = torch.serialization.get_unsafe_globals_in_checkpoint(source)
            except Exception:  # the refusal stands; only its wording is lost
                names = []
            raise UnsafePickle(names) from None


# torch.distributed.checkpoint's metadata: its dataclasses and the torch types in them
_METADATA_CLASSES = {
    "torch.distributed.checkpoint.metadata": {
        "Metadata",
        "MetadataIndex",
        "StorageMeta",
        "TensorStorageMetadata",
        "BytesStorageMetadata",
        "ChunkStorageMetadata",
        "TensorProperties",
        "_MEM_FORMAT_ENCODING",
    },
    "torch.distributed.checkpoint.filesystem": {"_StorageInfo"},
    "torch.serialization": {"_get_layout"},  # a layout by name: torch.strided
    "pathlib": {"PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath"},
    "collections": {"OrderedDict"},
}


class _MetadataUnpickler(pickle.Unpickler):
    """Resolves only the classes a distributed checkpoint's ``.metadata`` is made of."""

    def find_class(self, module: str, name: str) -> Any:
        import torch

        allowed = name in _METADATA_CLASSES.get(module, ()) or (
            module == "torch"
            and (name == "Size" or isinstance(getattr(torch, name, None), torch.dtype))
        )
        if not allowed:
            raise UnsafePickle([f"{module}.{name}"])
        return super().find_class(module, name)


def read_dcp_metadata(folder: Path, *, trust: bool) -> Any:
    """The ``Metadata`` of a distributed checkpoint folder (what ``FileSystemReader`` reads)."""
    with (folder / ".metadata").open("rb") as metadata_file:
        return pickle.load(metadata_file) if trust else _MetadataUnpickler(metadata_file).load()


def load_sharded(folder: Path, keys: set[str], *, trust: bool) -> dict[str, Any]:
    """The entries ``keys`` (and everything under them) of a sharded checkpoint, in this process:
    torch's ``_load_state_dict_from_keys`` with the metadata and non-tensor entries read safely
    (torch's planner reads them with ``weights_only=False``).
    """
    from torch.distributed.checkpoint import CheckpointException, FileSystemReader
    from torch.distributed.checkpoint._traverse import set_element
    from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.metadata import StorageMeta
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    class Reader(FileSystemReader):
        def read_metadata(self) -> Any:
            metadata = read_dcp_metadata(folder, trust=trust)
            if getattr(metadata, "storage_meta", None) is None:
                metadata.storage_meta = StorageMeta()
            metadata.storage_meta.load_id = self.load_id
            return metadata

    class Planner(_EmptyStateDictLoadPlanner):
        def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
            obj = torch_load(value, trust=trust)
            if self.flatten_state_dict:
                set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
            else:
                self.state_dict[read_item.dest_index.fqn] = obj

    state: dict[str, Any] = {}
    with warnings.catch_warnings():  # "no process group: loading in one process"
        warnings.simplefilter("ignore", UserWarning)
        try:
            _load_state_dict(
                state, storage_reader=Reader(str(folder)), no_dist=True, planner=Planner(keys=keys)
            )
        except CheckpointException as exc:  # a BaseException wrapping what failed, per rank
            raise next(iter(exc.failures.values()))[0] from None
    return state
