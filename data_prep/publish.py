"""A run's outputs are published as one set: tokenizer, shards and manifest change together.

Each run builds its outputs in a set folder of its own, ``OUTPUT_DIR/.sets/<id>/``; the set is
published by pointing the link ``OUTPUT_DIR/.current`` at it, one ``rename`` (atomic), and the
published names are fixed links through it::

    OUTPUT_DIR/tokenizer      -> .current/tokenizer
    OUTPUT_DIR/train          -> .current/train
    OUTPUT_DIR/validation     -> .current/validation
    OUTPUT_DIR/manifest.json  -> .current/manifest.json
    OUTPUT_DIR/.current       -> .sets/<id>

So a reader (a training run, the recipe's tokenizer path) sees the old set or the new one, never
a mix: a run killed or failed before its switch leaves the previous complete set in place, and
the next run removes (or resumes, :func:`staging_sets`) the unpublished one. A folder written by
the earlier layout (real folders under the published names) is adopted as the current set once.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from data_prep.stages import TMP, make_temp_dir

log = logging.getLogger(__name__)

PUBLISHED = ("tokenizer", "train", "validation", "manifest.json")
SETS = ".sets"
CURRENT = ".current"
LEGACY = "legacy"


def current_set(out: Path) -> Path | None:
    """The published set of ``out``, or None before the first publication."""
    link = out / CURRENT
    if not link.is_symlink():
        return None
    target = out / os.readlink(link)
    return target if target.is_dir() else None


def new_set(out: Path) -> Path:
    """A new, empty, unpublished set folder."""
    return make_temp_dir(out / SETS, "set-")


def staging_sets(out: Path) -> list[Path]:
    """The unpublished sets of ``out``: a killed or failed run's, to resume or remove."""
    folder = out / SETS
    current = current_set(out)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p != current)


def remove_set(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def publish(out: Path, set_dir: Path) -> None:
    """Make ``set_dir`` the published set of ``out`` at once, then remove every other set."""
    tmp = out / f"{CURRENT}{TMP}{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(set_dir, out), tmp)
    os.replace(tmp, out / CURRENT)
    _sync(out)
    for name in PUBLISHED:
        link = out / name
        if (set_dir / name).exists():
            if not link.is_symlink():
                os.symlink(f"{CURRENT}/{name}", link)
        elif link.is_symlink():  # e.g. a split that is now empty
            link.unlink()
    for other in staging_sets(out):
        remove_set(other)
    log.info("published %s", set_dir)


def adopt_legacy(out: Path) -> None:
    """Make a folder in another layout a published set again.

    Two cases: outputs of the earlier layout (real folders under the published names), and a
    copy made by following links (``shutil.copytree``, ``cp -L``: ``.current`` and the
    published names are real folders, duplicates of each other). A run killed while doing so
    finishes it on its next start (the legacy set is kept until published).
    """
    legacy = out / SETS / LEGACY
    link = out / CURRENT
    copied = link.is_dir() and not link.is_symlink()
    names = [n for n in PUBLISHED if (out / n).exists() and not (out / n).is_symlink()]
    if not (copied or names or (legacy.is_dir() and current_set(out) != legacy)):
        return
    legacy.parent.mkdir(parents=True, exist_ok=True)
    if copied:
        shutil.rmtree(legacy, ignore_errors=True)
        os.replace(link, legacy)
    legacy.mkdir(exist_ok=True)
    for name in names:
        if (legacy / name).exists():  # a duplicate of the adopted set's own
            _remove(out / name)
        else:
            os.replace(out / name, legacy / name)
    log.info("%s: outputs in another layout adopted as the current set", out)
    publish(out, legacy)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _sync(folder: Path) -> None:
    """Make the switch durable (a crash right after it keeps the new set)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
