"""Make autoresume work after any crash: partial checkpoints removed, and remote runs.

A save killed or failed mid-write (kill -9, preemption, disk full) leaves ``ep0-ba5-rank0.pt``
empty or cut off, or an ``ep0-ba5/`` folder of shards without its ``.metadata``. Composer writes
in place and then repoints ``latest-rank0.pt``, so every relaunch then dies in Composer's
``FileExistsError`` check of the save folder ("may conflict with a future checkpoint"), and a
``latest`` that names a cut-off file (a crash between the write reaching the disk and the
link) is a traceback without a fallback. :func:`repair_save_folder`, run before the Trainer is
built, removes such checkpoints (one line each, naming the file, why it is incomplete and the
space freed) and points ``latest`` at the newest complete checkpoint, saying so. Removed, not
renamed: a partial checkpoint cannot be resumed from, and after a disk-full crash (a 2.7B
sharded save is tens of GB) keeping it would make the next save fail the same way. The
checkpoint file resumed from is also read whole for its zip CRCs (bytes corrupted on disk, size
intact): a bad one is removed the same way and the previous checkpoint resumed from. A sharded
folder carries no checksum: its ``.metadata`` and the shards' sizes are what is checked.

Composer 0.32 downloads the remote ``latest-rank0.pt`` of an ``s3://``/``gs://``/``oci://``
``save_folder`` to the *local* path ``os.path.join(save_folder, "latest-rank0.pt")`` (a folder
named ``s3:`` in the working directory), and on the next launch uses that file whenever it
exists, without looking at the remote again. The second relaunch of a run therefore resumes
from the checkpoint the first relaunch downloaded, not from the newest one. Removing that stale
download before training makes Composer fetch the remote's latest each time.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from biomedlm.checkpoint import corrupt, incomplete

log = logging.getLogger(__name__)
LATEST = ("latest-rank", "latest-sharded-rank")  # Composer's and llm-foundry's default names
# llm-foundry's default save_filename, and the folder FSDP's sharded state dicts are saved in
CHECKPOINT_FILE = re.compile(r"^ep\d+-ba(\d+)-rank(\d+)\.pt$")
SHARDED_FOLDER = re.compile(r"^ep\d+-ba(\d+)$")


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
        file = CHECKPOINT_FILE.match(path.name)
        sharded = SHARDED_FOLDER.match(path.name)
        if path.is_symlink() or not ((file and path.is_file()) or (sharded and path.is_dir())):
            continue
        why = incomplete(path)
        if why is None:
            if file and file.group(2) == "0":
                files.append((int(file.group(1)), path))
            elif sharded:
                shards.append((int(sharded.group(1)), path))
            continue
        removed.append(_remove(path, f"{why}: a save that did not finish"))
    _point_latest(folder / "latest-rank0.pt", _newest_intact(files, removed))
    _point_latest(folder / "latest-sharded-rank0", max(shards, default=None))
    return removed


def _newest_intact(files: list[tuple[int, Path]], removed: list[Path]) -> tuple[int, Path] | None:
    """The newest checkpoint file whose bytes pass their CRCs; newer corrupt ones are removed.

    Only the one resumed from is read whole (:func:`biomedlm.checkpoint.corrupt`), and the
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
