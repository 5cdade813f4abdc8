"""Task catalogue files parsed strictly into typed entries, merged by name: the one parser, for
the gauntlet and data_prep's decontamination. The keys are explained in the shipped
``tasks.yaml``; includes and overrides in docs/evaluation.md#adding-a-benchmark.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strict_config import load_structured

DEFAULT_TASKS_FILE = Path(__file__).with_name("tasks.yaml")
DEFAULT = "default"  # include: default, the shipped catalogue
SELF = "self"  # fewshot_source: the task's own file, the item excluded
_PATH_KEYS = ("data", "fewshot_source")


@dataclass
class TaskEntry:
    """One benchmark as written in a task file; unset keys are None (the defaults come later)."""

    data: str | None = None
    format: str | None = None
    random_baseline: float | None = None
    category: str | None = None
    num_fewshot: list[int] | None = None  # default [0]
    fewshot_source: str | None = None  # default self
    fewshot_sampler: str | None = None  # default "default"
    subject: str | None = None
    group: str | None = None
    schema: str | None = None  # default "options"
    cop_base: int | None = None
    pmid_field: str | None = None  # decontamination: the field holding the abstract's PMID


@dataclass
class TaskFile:
    """A whole task file."""

    include: Any = None  # a file name or a list of them; "default" is the shipped catalogue
    tasks: dict[str, TaskEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """A task's entry merged over every file that writes it, its paths made absolute."""

    name: str
    entry: TaskEntry
    origin: str  # the task file that last wrote this entry, for messages


def shipped(origin: str | Path) -> bool:
    """Whether ``origin`` is the shipped catalogue."""
    return Path(origin).resolve() == DEFAULT_TASKS_FILE.resolve()


def beside(value: str, base: Path) -> str:
    """A path written in a task file (or ``self``), made absolute against the file's folder."""
    if value == SELF:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _includes(path: Path, include: Any, error: type[ValueError]) -> list[Path]:
    names = [include] if isinstance(include, str) else include or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise error(f"{path}: include: expected a file name or a list of them")
    files = [DEFAULT_TASKS_FILE if n == DEFAULT else Path(beside(n, path.parent)) for n in names]
    for name, file in zip(names, files, strict=True):
        if not file.is_file():
            raise error(f"{path}: include {name!r}: file not found: {file}")
    return files


def _read(
    path: Path,
    entries: dict[str, Entry],
    stack: tuple[Path, ...],
    done: set[Path],
    error: type[ValueError],
) -> None:
    """Merge the entries of ``path`` (its includes first) into ``entries``; a file already read
    is not read again, so a second inclusion of the defaults cannot undo earlier overrides."""
    if path.resolve() in stack:
        raise error(f"{path}: includes itself (through {', '.join(map(str, stack))})")
    if path.resolve() in done:
        return
    done.add(path.resolve())
    parsed = load_structured(TaskFile, path, error=error)
    for included in _includes(path, parsed.include, error):
        _read(included, entries, (*stack, path.resolve()), done, error)
    for name, entry in parsed.tasks.items():
        given: dict[str, Any] = {
            key: beside(value, path.parent) if key in _PATH_KEYS else value
            for key, value in dataclasses.asdict(entry).items()
            if value is not None
        }
        old = entries[name].entry if name in entries else TaskEntry()
        entries[name] = Entry(name, dataclasses.replace(old, **given), str(path))


def read_catalogue(
    paths: str | Path | Sequence[str | Path] = DEFAULT_TASKS_FILE,
    *,
    error: type[ValueError] = ValueError,
) -> dict[str, Entry]:
    """Every entry of the task files ``paths``, merged in order, by name; bad input: ``error``."""
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    entries: dict[str, Entry] = {}
    done: set[Path] = set()
    for path in files:
        _read(path, entries, (), done, error)
    return entries
