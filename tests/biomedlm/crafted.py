"""Crafted checkpoints whose pickles create a file when they are unpickled (the payload)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any


class Payload:
    """Unpickled, it runs ``exec``: here, creating ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def crafted_file(path: Path, marker: Path) -> Path:
    """An ``ep0-ba99-rank0.pt`` shaped like a Composer checkpoint, the payload in its state."""
    import torch

    state = {"model": {}, "integrations": {"huggingface": Payload(marker)}, "timestamp": {}}
    torch.save({"state": state, "rng": []}, path)
    return path


def crafted_metadata(folder: Path, marker: Path) -> Path:
    """A sharded checkpoint folder whose ``.metadata`` is the payload."""
    folder.mkdir(parents=True)
    (folder / ".metadata").write_bytes(pickle.dumps(Payload(marker)))
    (folder / "__0_0.distcp").write_bytes(b"")
    return folder


def crafted_entry(folder: Path, state: dict[str, Any], marker: Path) -> Path:
    """A real sharded checkpoint of ``state`` (torch's writer) whose timestamp entry is the payload."""
    import torch.distributed.checkpoint as dcp

    dcp.save({"state": {**state, "timestamp": Payload(marker)}}, checkpoint_id=folder, no_dist=True)
    return folder


def sharded_copy(checkpoint: Path, folder: Path) -> Path:
    """A Composer checkpoint file's state written as ``ep*-ba*/`` shards, as Composer does."""
    import torch
    import torch.distributed.checkpoint as dcp

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]
    dcp.save({"state": state}, checkpoint_id=folder, no_dist=True)
    return folder


def planted_tokenizer_file(checkpoint: Path, path: Path, target: Path, kind: str = ".py") -> Path:
    """A copy of a real checkpoint whose saved tokenizer lists one more file: ``target``.

    Only dicts and strings: it passes the pickle allow-list. Composer's tokenizer reader writes
    each listed file to ``folder / name``, and an absolute ``name`` replaces the folder.
    """
    import torch

    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    files = saved["state"]["integrations"]["huggingface"]["tokenizer"]
    files[str(target)] = {"file_extension": kind, "content": "open('planted-ran', 'w').close()\n"}
    torch.save(saved, path)
    return path
