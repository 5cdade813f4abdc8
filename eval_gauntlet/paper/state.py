"""A state file per task (``OUT/<task>/paper-state.json``), so a relaunch knows what to do.

It holds what the task ran, which INIT (its identity), how the machine ran it and how far it got;
a relaunch skips a task that is done, resumes one interrupted or failed as the machine began it,
and starts anew one whose INIT or recipe changed, saying what changed (docs/paper.md,
"Relaunching").
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from biomedlm.relaunch import changed_keys
from biomedlm.trained.hub import revision_of
from data_prep.files import write_text_atomic

STATE = "paper-state.json"
RUNNING, DONE, FAILED = "running", "done", "failed"


def init_identity(spec: str, folder: Path) -> dict[str, Any]:
    """What INIT ``spec`` (resolved to ``folder``) is: a change of any part starts tasks anew."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else [folder]
    stats = [f"{p.relative_to(folder) if p != folder else p.name}:{p.stat().st_size}:"
             f"{p.stat().st_mtime_ns}" for p in files]  # fmt: skip
    return {
        "init": spec,
        "path": str(folder.resolve()),
        "revision": revision_of(folder),
        "files": hashlib.sha1("\n".join(stats).encode()).hexdigest()[:16],
    }


@dataclass
class TaskState:
    """One task's record (see the module docstring)."""

    task: str
    status: str
    init: dict[str, Any]
    ran: dict[str, Any]  # the resolved recipe, or the gauntlet's command line
    command: list[str] = field(default_factory=list)
    note: str | None = None  # how the machine ran it (GPUs, LoRA and why)
    machine: list[str] | None = None  # the overrides the machine added (LoRA): kept to the end
    launches: int = 0
    updated: str = ""
    exit_code: int | None = None

    def save(self, folder: Path) -> None:
        """Write the record whole into ``folder``."""
        self.updated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_text_atomic(folder / STATE, json.dumps(asdict(self), indent=1, default=str) + "\n")


def read_state(folder: Path) -> TaskState | None:
    """The record in ``folder``; None when there is none (or it is unreadable: started anew)."""
    try:
        return TaskState(**json.loads((folder / STATE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def what_changed(old: TaskState, init: dict[str, Any], ran: dict[str, Any]) -> str | None:
    """Why ``old``'s run cannot go on with this INIT and this recipe (None: it can)."""
    if old.init != init:
        was, now = old.init, init
        if was.get("init") != now.get("init") or was.get("path") != now.get("path"):
            return f"INIT changed ({was.get('init')} -> {now.get('init')})"
        return f"INIT {now.get('init')} changed on disk (revision or files)"
    changes = changed_keys(old.ran, ran)
    if changes:
        shown = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in list(changes.items())[:3])
        more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
        return f"recipe changed: {shown}{more}"
    return None
