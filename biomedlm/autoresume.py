"""Make autoresume from a remote ``save_folder`` resume from the remote's latest checkpoint.

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
import shutil
from pathlib import Path

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
