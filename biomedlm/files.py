"""Output files written whole or not at all, with the permissions the user's umask allows.

``tempfile.mkstemp`` creates files 0600 whatever the umask, which kept a group from reading
shared results: :func:`atomic_write` gives the file ``0666 & ~umask``, as ``open()`` would.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def current_umask() -> int:
    """The process's umask: from ``/proc/self/status`` on Linux, else set and restored."""
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
