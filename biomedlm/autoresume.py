"""Make autoresume work after any crash: partial checkpoints removed, and remote runs.

A save killed mid-write leaves a cut-off ``ep0-ba5-rank0.pt`` or an ``ep0-ba5/`` without its
``.metadata``; Composer then refuses the save folder on every relaunch ("may conflict with a
future checkpoint"), or follows a ``latest`` link to it. :func:`repair_save_folder` removes such
checkpoints (and a checkpoint file resumed from whose zip CRCs fail) and points ``latest`` at
the newest complete one. Composer 0.32 also keeps its download of a remote run's
``latest-rank0.pt`` under a local ``s3:/...`` folder and reuses it on later launches without
looking at the remote: :func:`clear_stale_download` removes it first.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from biomedlm.trained.kinds import corrupt, incomplete
from biomedlm.trained.names import COMPOSER_FILE, SHARDED_FOLDER

log = logging.getLogger(__name__)
LATEST = ("latest-rank", "latest-sharded-rank")  # Composer's and llm-foundry's default names


def clear_stale_download(save_folder: str | None) -> list[Path]:
    """Delete Composer's earlier local copies of a remote run's latest checkpoint; returns them.

    Only on a node's local rank 0, before training starts (the download happens after all ranks
    have met, so no rank can be reading the file).
    """
    if not save_folder or "://" not in save_folder or os.environ.get("LOCAL_RANK", "0") != "0":
        return []
    local = Path(os.path.abspath(save_folder))  # where Composer puts the download
    if not local.is_dir():
        return []
    # latest-rank0.pt, or latest-sharded-rank0 (a folder of shards) with sharded state dicts
    removed = sorted(p for p in local.iterdir() if p.name.startswith(LATEST))
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        log.info("removed %s, an earlier download of the remote's latest checkpoint", path)
    return removed


def repair_save_folder(save_folder: str | None) -> list[Path]:
    """Remove partial checkpoints of a local ``save_folder``; point ``latest`` at the newest
    complete one. Returns the removed paths.

    Only on global rank 0, before the Trainer is built: the other ranks reach the save folder
    only after meeting rank 0 in the Trainer's first collective. Remote folders hold only whole
    uploads and are left alone.
    """
    if not save_folder or "://" in save_folder or os.environ.get("RANK", "0") != "0":
        return []
    folder = Path(save_folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    files: list[tuple[int, Path]] = []  # rank 0's complete checkpoint files, by batch
    shards: list[tuple[int, Path]] = []
    for path in sorted(folder.iterdir()):
        file = COMPOSER_FILE.match(path.name)
        sharded = SHARDED_FOLDER.match(path.name)
        if path.is_symlink() or not ((file and path.is_file()) or (sharded and path.is_dir())):
            continue
        why = incomplete(path)
        if why is None:
            if file and file["rank"] == "0":
                files.append((int(file["step"]), path))
            elif sharded:
                shards.append((int(sharded["step"]), path))
            continue
        removed.append(_remove(path, f"{why}: a save that did not finish"))
    _point_latest(folder / "latest-rank0.pt", _newest_intact(files, removed))
    _point_latest(folder / "latest-sharded-rank0", max(shards, default=None))
    return removed


def _newest_intact(files: list[tuple[int, Path]], removed: list[Path]) -> tuple[int, Path] | None:
    """The newest checkpoint file whose bytes pass their CRCs; newer corrupt ones are removed.

    Only the one resumed from is read whole (:func:`biomedlm.trained.kinds.corrupt`), and the
    previous ones only when it fails: the cost is one read of the newest checkpoint.
    """
    for batch, path in sorted(files, reverse=True):
        why = corrupt(path)
        if why is None:
            return batch, path
        removed.append(_remove(path, f"{why}; cannot be resumed from"))
    return None


def _remove(path: Path, why: str) -> Path:
    """Delete a checkpoint that cannot be resumed from, saying why in one line."""
    size = _size(path)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    log.warning("removed %s (%s; %.1f MB freed)", path, why, size / 1e6)
    return path


def _size(path: Path) -> int:
    """Bytes in a checkpoint file or a folder of shards."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _point_latest(link: Path, newest: tuple[int, Path] | None) -> None:
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
