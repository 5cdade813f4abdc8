"""Make autoresume work after any crash: partial checkpoints removed, and remote runs.

Composer refuses a save folder holding a checkpoint cut off mid-write ("may conflict with a
future checkpoint"), and 0.32 reuses its local download of a remote run's ``latest-rank0.pt``
without looking at the remote; so both are cleaned before training (docs/reliability.md).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from biomedlm.trained.kinds import corrupt, incomplete
from biomedlm.trained.names import (
    COMPOSER_FILE,
    SHARDED_FOLDER,
    Position,
    composer_folder,
    composer_position,
)

log = logging.getLogger(__name__)
LATEST = ("latest-rank", "latest-sharded-rank")  # Composer's and llm-foundry's default names


def _as_used(save_folder: str | None, run_name: str | None) -> str | None:
    """``save_folder`` as Composer uses it (``run_name``: the recipe's, filling its placeholders;
    None: the folder is given filled in already)."""
    return composer_folder(save_folder, run_name) if save_folder and run_name else save_folder


def clear_stale_download(save_folder: str | None, run_name: str | None = None) -> list[Path]:
    """Delete Composer's earlier local copies of a remote run's latest checkpoint; returns them.

    Local rank 0 only, before training: the download happens after all ranks have met.
    """
    save_folder = _as_used(save_folder, run_name)
    if not save_folder or "://" not in save_folder or os.environ.get("LOCAL_RANK", "0") != "0":
        return []
    local = Path(os.path.abspath(save_folder))  # where Composer puts the download
    if not local.is_dir():
        return []
    # latest-rank0.pt, or latest-sharded-rank0 (a folder of shards) with sharded state dicts
    removed = sorted(p for p in local.iterdir() if p.name.startswith(LATEST))
    for path in removed:
        _delete(path)
        log.info("removed %s, an earlier download of the remote's latest checkpoint", path)
    return removed


def repair_save_folder(save_folder: str | None, run_name: str | None = None) -> list[Path]:
    """Remove partial checkpoints of a local ``save_folder``; point ``latest`` at the newest
    complete one. Returns the removed paths.

    Global rank 0 only, before the Trainer is built (the other ranks wait for it in the
    Trainer's first collective). Remote folders hold only whole uploads.
    """
    save_folder = _as_used(save_folder, run_name)
    if not save_folder or "://" in save_folder or os.environ.get("RANK", "0") != "0":
        return []
    folder = Path(save_folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    files: list[tuple[Position, Path]] = []  # rank 0's complete checkpoint files, by position
    shards: list[tuple[Position, Path]] = []
    for path in sorted(folder.iterdir()):
        file = COMPOSER_FILE.match(path.name)
        sharded = SHARDED_FOLDER.match(path.name)
        if path.is_symlink() or not ((file and path.is_file()) or (sharded and path.is_dir())):
            continue
        why = incomplete(path)
        if why is not None:
            removed.append(_remove(path, f"{why}: a save that did not finish"))
        elif (position := composer_position(path.name)) is not None:  # not another rank's file
            (files if file else shards).append((position, path))
    _point_latest(folder / "latest-rank0.pt", _newest_intact(files, removed))
    _point_latest(folder / "latest-sharded-rank0", max(shards, default=None))
    return removed


def _newest_intact(
    files: list[tuple[Position, Path]], removed: list[Path]
) -> tuple[Position, Path] | None:
    """The newest checkpoint file whose bytes pass their CRCs; newer corrupt ones are removed
    (one read of the newest checkpoint, older ones only when it fails).
    """
    for position, path in sorted(files, reverse=True):
        why = corrupt(path)
        if why is None:
            return position, path
        removed.append(_remove(path, f"{why}; cannot be resumed from"))
    return None


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _remove(path: Path, why: str) -> Path:
    """Delete a checkpoint that cannot be resumed from, saying why in one line."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    _delete(path)
    log.warning("removed %s (%s; %.1f MB freed)", path, why, size / 1e6)
    return path


def _point_latest(link: Path, newest: tuple[Position, Path] | None) -> None:
    """Make ``link`` name ``newest`` (relative, as Composer writes it), replacing it atomically."""
    current = os.readlink(link) if link.is_symlink() else None
    if newest is None:
        if current is not None and not link.exists():  # it named a checkpoint just removed
            link.unlink()
            log.warning("removed %s: no complete checkpoint left; training starts afresh", link)
        return
    name = newest[1].name
    if link.exists() and link.resolve() == newest[1].resolve():
        return
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(name)
    os.replace(tmp, link)
    log.warning(
        "%s now names %s, the newest complete checkpoint (it named %s): resuming from there",
        link,
        name,
        current or "nothing",
    )
