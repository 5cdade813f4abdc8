"""Checkpoint names: Composer's files and sharded folders, llm-foundry's exports, predictions
folders. A link is named after the checkpoint it points to: one name however it is reached.
"""

from __future__ import annotations

import re
from pathlib import Path

# one rank's file; FSDP's sharded state dicts
COMPOSER_FILE = re.compile(r"^ep(?P<epoch>\d+)-ba(?P<step>\d+)-rank(?P<rank>\d+)\.pt$")
SHARDED_FOLDER = re.compile(r"^ep(?P<epoch>\d+)-ba(?P<step>\d+)$")
EXPORT = re.compile(r"^ba(?P<step>\d+)$")  # llm-foundry's hf_checkpointer, finetune_export
Position = tuple[int, int]  # a Composer checkpoint's (batch, epoch): the order they were saved in


def composer_folder(folder: str, run_name: str) -> str:
    """A checkpointer's folder as Composer writes to it: its ``{run_name}`` (and rank)
    placeholders filled in, as the Trainer and ``hf_checkpointer`` fill them (llm-foundry's
    recipes use ``./{run_name}/checkpoints``); a folder without placeholders is itself."""
    from composer.utils import format_name_with_dist

    return format_name_with_dist(folder, run_name)


def composer_position(name: str) -> Position | None:
    """(batch, epoch) in the name of rank 0's checkpoint file (``ep0-ba60-rank0.pt``) or of a
    sharded folder (``ep0-ba60``), in the order Composer saved them; None for another name.

    The epoch breaks a tie: a run whose last batch ends an epoch saves ``ep9-ba70`` at that batch,
    then ``ep10-ba70``, the newer, at the epoch's end.
    """
    found = COMPOSER_FILE.match(name) or SHARDED_FOLDER.match(name)
    if found is None or found.groupdict().get("rank", "0") != "0":
        return None
    return int(found["step"]), int(found["epoch"])


def composer_step(name: str) -> int | None:
    """The batch in the name of rank 0's checkpoint file or of a sharded folder, if any."""
    position = composer_position(name)
    return None if position is None else position[0]


def step_in_name(name: str) -> int | None:
    """The step in a checkpoint's name (``ep0-ba60-rank0.pt``, ``ep0-ba60``, ``ba60``), if any."""
    found = EXPORT.match(name)
    return int(found["step"]) if found else composer_step(name)


def step_of_name(path: Path) -> int | None:
    """The step in the name of the checkpoint at ``path`` (a link's: its target's), if any."""
    return step_in_name(path.resolve().name)


def checkpoint_name(path: Path) -> str:
    """The name a checkpoint (or the one a link points to) has in the results: ``ep0-ba60``..."""
    return path.resolve().name.removesuffix(".pt")


def safe_name(name: str) -> str:
    """The folder name of a checkpoint's predictions (and samples), for every kind of scoring."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
