"""The paper's rows as data (``paper.yaml``), loaded strictly into typed dataclasses.

Each task is a fine-tune (its recipe, its CPU ``demo`` recipe, its data files) or the in-context
gauntlet (its options); each row one published number with where it is in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from eval_gauntlet.errors import GauntletError
from strict_config import load_structured

PAPER_FILE = Path(__file__).with_name("paper.yaml")
FINETUNE, IN_CONTEXT = "finetune", "in_context"


class PaperError(GauntletError):
    """A paper file, task name or machine the command cannot run with; one line."""


@dataclass
class Source:
    paper: str = MISSING
    arxiv: str = MISSING
    version: str = MISSING
    note: str = ""


@dataclass
class DataFile:
    """One file a task reads: the recipe's path, where to get it, the format it must have."""

    path: str = MISSING
    get: str = MISSING
    format: str = MISSING


@dataclass
class Row:
    """One result of the paper: found in a task's results by ``result`` and ``metric``."""

    name: str = MISSING
    result: str = MISSING  # the task name in results.jsonl
    demo_result: str | None = None  # the demo recipe's, where it differs
    metric: str = "acc"
    split: str = "test"  # the benchmark's split, as the paper names it
    published: float | None = None  # percent, as printed; None: the paper gives no number
    n: int | None = None  # examples in the split as released
    where: str = ""  # where the number is in the paper

    def result_for(self, demo: bool) -> str:
        """The task name of this row's results (the demo recipe's with ``--demo``)."""
        return (self.demo_result or self.result) if demo else self.result


@dataclass
class Task:
    kind: str = FINETUNE
    recipe: str | None = None  # a fine-tune's recipe
    demo: str | None = None  # its CPU plumbing: a *-debug-cpu recipe
    data: list[DataFile] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # the gauntlet's options
    demo_options: dict[str, Any] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)  # from the paper's protocol
    rows: list[Row] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in (FINETUNE, IN_CONTEXT):
            raise ValueError(f"kind: {self.kind!r} is not {FINETUNE} or {IN_CONTEXT}")
        if self.kind == FINETUNE and not (self.recipe and self.demo):
            raise ValueError("a fine-tune task needs its recipe and its demo recipe")
        if not self.rows:
            raise ValueError("a task needs at least one row")

    def recipe_for(self, demo: bool) -> str:
        """The recipe this task runs (the demo's with ``--demo``)."""
        recipe = self.demo if demo else self.recipe
        assert recipe is not None, "checked when loaded"
        return recipe

    def described(self, path: str) -> str:
        """Where to get data file ``path`` and the format it must have."""
        found = next((d for d in self.data if d.path == path), None)
        if found is None:
            return "see the recipe's comment for where to get it and its format"
        return f"{found.get}; format: {found.format}"


@dataclass
class Paper:
    source: Source = field(default_factory=Source)
    tasks: dict[str, Task] = field(default_factory=dict)


def load_paper(path: Path = PAPER_FILE) -> Paper:
    """The paper's rows from ``path`` (the shipped ``paper.yaml`` by default)."""
    return load_structured(Paper, path, error=PaperError)


def select(paper: Paper, only: list[str] | None, skip: list[str] | None) -> list[str]:
    """The tasks to run, in the paper's order; an unknown name is one line listing the names."""
    for name in [*(only or []), *(skip or [])]:
        if name not in paper.tasks:
            raise PaperError(f"{name}: not a task of the paper; tasks: {', '.join(paper.tasks)}")
    return [t for t in paper.tasks if (not only or t in only) and t not in (skip or [])]
