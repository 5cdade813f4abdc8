"""Output files written whole or not at all, with the permissions the user's umask allows.

Every result, prediction and prompt file the project writes downstream of data_prep goes
through :func:`atomic_write`: a temporary file beside the target, renamed onto it when
complete, removed if writing fails. ``tempfile.mkstemp`` creates files 0600 whatever the
umask, which kept a group from reading shared results; the file gets ``0666 & ~umask`` before
it takes its name, as ``open()`` would have given it. (data_prep, upstream of this package,
does the same in ``data_prep.stages``.)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def current_umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only set it).

    Linux shows it in ``/proc/self/status``; elsewhere it is set and restored at once.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def follow_umask(folder: Path) -> None:
    """Give ``folder`` and everything in it the modes the umask allows (0666/0777 ``& ~umask``).

    For folders written by libraries that make private files: safetensors writes
    ``model.safetensors`` 0600 whatever the umask, so a group could not read exported weights.
    """
    mask = current_umask()
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` (UTF-8) at ``path``, whole or not at all."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
