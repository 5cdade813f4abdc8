"""Outputs written whole or not at all, with the permissions the user's umask allows.

Every temporary has ``.tmp-`` in its name, so the next run (holding the folder's lock) can remove
what a killed run left. ``tempfile`` creates files 0600 and folders 0700 whatever the umask, which
kept a group from reading shared results: temporaries get ``0666 & ~umask`` (``0777`` for
folders), as ``open()`` and ``mkdir`` would. The one home of this for data_prep, biomedlm and
the gauntlet.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

TMP = ".tmp-"  # the mark of every temporary name


def current_umask() -> int:
    """The process's umask: from ``/proc/self/status`` on Linux, else set and restored."""
    with suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_refused(folder: Path) -> str | None:
    """Why a file cannot be made in ``folder`` (or, not made yet, its nearest existing parent):
    a probe file, as permission bits say nothing for root or a read-only mount; None if it can.
    """
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        return f"{existing} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):  # removed as it closes
            return None
    except OSError as exc:
        return f"{existing}: {exc.strerror or type(exc).__name__}"


def file_label(path: Path) -> str:
    """The name of a globbed file in the ids of its id-less documents (a split hashes them): a
    file of an absolute glob (or ``~``) is named by its absolute path, so the same config names
    it alike from any working directory; a file of a relative glob by its path from the working
    directory, however the glob wrote it (``./a``, ``b/../a``), or absolute when not below it.
    Two same-named files in two folders keep two names."""
    resolved, cwd = Path(os.path.abspath(path)), Path.cwd()
    if not path.is_absolute() and resolved.is_relative_to(cwd):
        return resolved.relative_to(cwd).as_posix()
    return resolved.as_posix()


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP}", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def follow_umask(folder: Path) -> None:
    """Give ``folder`` and everything in it the modes the umask allows (0666/0777 ``& ~umask``):
    safetensors writes ``model.safetensors`` 0600 whatever the umask.
    """
    mask = current_umask()
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` (UTF-8) at ``path``, whole or not at all."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON at ``path``, whole or not at all."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A new empty folder in ``parent`` named ``<prefix>XXXXXXXX``, with the umask's mode."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, 0o777 & ~current_umask())
    return path


def remove_temporaries(folders: Iterable[Path]) -> list[Path]:
    """Delete every ``.tmp-`` entry directly inside ``folders`` (left by a killed run)."""
    removed = [p for f in folders if f.is_dir() for p in f.iterdir() if TMP in p.name]
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; on success it replaces ``final`` at once."""
    tmp = make_temp_dir(final.parent, f".{final.name}{TMP}")
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}{TMP}old-{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
