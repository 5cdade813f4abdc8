"""The task catalogue: ``tasks.yaml`` loaded strictly into typed entries, and task selection.

A misspelled key fails naming the entry and the nearest valid key (``strict_config``); a bad
value, a missing data file or an unknown task name fails with one line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import MISSING

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.prompts import FORMATS
from strict_config import load_structured

DEFAULT_TASKS_FILE = Path(__file__).with_name("tasks.yaml")
SELF = "self"  # fewshot_source: the task's own file, the item excluded
AVERAGE = "average"  # the gauntlet's overall score; not a category name


@dataclass
class TaskEntry:
    """One benchmark as written in ``tasks.yaml`` (the schema; see the file's header)."""

    data: str = MISSING
    format: str = MISSING
    random_baseline: float = MISSING
    category: str = MISSING
    num_fewshot: list[int] = field(default_factory=lambda: [0])
    fewshot_source: str = SELF
    subject: str | None = None
    group: str | None = None


@dataclass
class TaskFile:
    """The whole ``tasks.yaml``."""

    tasks: dict[str, TaskEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A validated task with its files resolved."""

    name: str
    data: Path
    format: str
    num_fewshot: tuple[int, ...]
    fewshot_source: Path | None  # None: the task's own file
    random_baseline: float
    category: str
    subject: str | None = None
    group: str | None = None


def _resolve_file(value: str, base: Path, where: str) -> Path:
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise GauntletError(f"{where}: file not found: {path}")
    return path


def _validate(name: str, entry: TaskEntry, base: Path, where: str) -> Task:
    if entry.format not in FORMATS:
        raise GauntletError(
            f"{where}.format: unknown prompt format {entry.format!r}; "
            f"expected one of {', '.join(FORMATS)}"
        )
    if not entry.num_fewshot or any(shots < 0 for shots in entry.num_fewshot):
        raise GauntletError(f"{where}.num_fewshot: need a list of shot counts >= 0")
    if not 0.0 <= entry.random_baseline < 1.0:
        raise GauntletError(
            f"{where}.random_baseline: must be in [0, 1), got {entry.random_baseline}"
        )
    if entry.category == AVERAGE:
        raise GauntletError(f"{where}.category: {AVERAGE!r} is reserved for the overall score")
    source = entry.fewshot_source
    return Task(
        name=name,
        data=_resolve_file(entry.data, base, f"{where}.data"),
        format=entry.format,
        num_fewshot=tuple(dict.fromkeys(entry.num_fewshot)),
        fewshot_source=None
        if source == SELF
        else _resolve_file(source, base, f"{where}.fewshot_source"),
        random_baseline=entry.random_baseline,
        category=entry.category,
        subject=entry.subject,
        group=entry.group,
    )


def load_tasks(path: str | Path = DEFAULT_TASKS_FILE) -> dict[str, Task]:
    """Every task of the catalogue at ``path``, by name; file paths resolved beside it."""
    path = Path(path)
    catalogue = load_structured(TaskFile, path, error=GauntletError)
    if not catalogue.tasks:
        raise GauntletError(f"{path}: no tasks")
    tasks = {
        name: _validate(name, entry, path.parent, f"{path}: tasks.{name}")
        for name, entry in catalogue.tasks.items()
    }
    clash = sorted({t.group for t in tasks.values() if t.group is not None} & set(tasks))
    if clash:
        raise GauntletError(f"{path}: group name {clash[0]!r} is also a task name")
    return tasks


def groups_of(tasks: dict[str, Task]) -> dict[str, list[str]]:
    """Group name -> member task names, in catalogue order."""
    groups: dict[str, list[str]] = {}
    for task in tasks.values():
        if task.group is not None:
            groups.setdefault(task.group, []).append(task.name)
    return groups


def select_tasks(tasks: dict[str, Task], names: list[str] | None = None) -> list[Task]:
    """The tasks ``names`` asks for (task or group names), in catalogue order; all if none."""
    if not names:
        return list(tasks.values())
    groups = groups_of(tasks)
    wanted: set[str] = set()
    for name in names:
        if name in tasks:
            wanted.add(name)
        elif name in groups:
            wanted.update(groups[name])
        else:
            known = [*tasks, *groups]
            prefixed = [k for k in known if k.startswith(name)]
            close = prefixed or difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise GauntletError(
                f"unknown task {name!r}.{hint} Known tasks and groups: {', '.join(known)}"
            )
    return [task for task in tasks.values() if task.name in wanted]
