"""Multiple-choice rows from JSONL files in the formats benchmarks are released in, one reader per
row schema (docs/evaluation.md#adding-a-benchmark); a bad row is one :class:`FormatError` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from medtasks.answers import MEDMCQA_OPTIONS, answer_index, cop_index
from medtasks.jsonl import json_objects


class FormatError(ValueError):
    """A data file or row that cannot be read: one line starting with ``file:line``."""


@dataclass(frozen=True)
class Item:
    """One multiple-choice question."""

    key: str  # the row's id (``realidx``, ``id``) when it has one, else the line number
    source: str  # "file:line", for messages and the audit trail
    question: str
    options: dict[str, str]  # letter -> option text, in display order
    answer: str  # the gold letter, a key of ``options``
    subject: str | None = None

    @property
    def gold(self) -> int:
        """Index of the gold option in ``options``."""
        return list(self.options).index(self.answer)


def _need(row: object, source: str, names: tuple[str, ...]) -> dict[str, Any]:
    """``row`` as an object with a non-empty ``question`` and the fields ``names``."""
    if not isinstance(row, dict):
        raise FormatError(f"{source}: expected a JSON object, got {type(row).__name__}")
    for name in ("question", *names):
        if name not in row:
            raise FormatError(f"{source}: missing field '{name}'")
    if not isinstance(row["question"], str) or not row["question"].strip():
        raise FormatError(f"{source}: 'question' must be a non-empty string")
    return row


def _item(
    row: dict[str, Any], source: str, line_no: int, options: dict[str, str], answer: str, *ids: str
) -> Item:
    """A checked row's :class:`Item`; ``ids`` are the fields of its key (else the line) and subject."""
    key, subject = (row.get(name) for name in ids)
    return Item(
        key=str(key) if key is not None else str(line_no),
        source=source,
        question=row["question"],
        options=options,
        answer=answer,
        subject=subject if isinstance(subject, str) else None,
    )


def options_row(row: object, source: str, line_no: int) -> Item:
    """An ``options`` row: ``question``, ``options`` {letter: text}, ``answer_idx``."""
    row = _need(row, source, ("options", "answer_idx"))
    options, answer = row["options"], row["answer_idx"]
    if not isinstance(options, dict) or len(options) < 2:
        raise FormatError(f"{source}: 'options' must be an object with at least two options")
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in options.items()):
        raise FormatError(f"{source}: every option must be a non-empty string")
    answer_index(options, answer, source, error=FormatError)
    return _item(row, source, line_no, dict(options), answer, "realidx", "subject")


def medmcqa_row(row: object, source: str, line_no: int, *, cop_base: int) -> Item:
    """A MedMCQA release row; ``cop`` is the gold option's number counted from ``cop_base``."""
    if cop_base not in (0, 1):
        raise ValueError(f"cop_base must be 0 or 1, got {cop_base!r}")
    row = _need(row, source, (*MEDMCQA_OPTIONS.values(), "cop"))
    options = {letter: row[name] for letter, name in MEDMCQA_OPTIONS.items()}
    if not all(isinstance(text, str) for text in options.values()):
        raise FormatError(f"{source}: opa, opb, opc and opd must be strings")
    gold = cop_index(row["cop"], cop_base, len(options), source, key="cop_base", error=FormatError)
    return _item(row, source, line_no, options, list(options)[gold], "id", "subject_name")


SCHEMAS = ("options", "medmcqa")


def load_items(
    path: str | Path,
    subject: str | None = None,
    *,
    schema: str = "options",
    cop_base: int | None = None,
) -> list[Item]:
    """Read and validate every row of ``path`` (``medmcqa`` rows need ``cop_base``); keep rows of
    ``subject`` when one is given."""
    read: Callable[[object, str, int], Item] = options_row
    if schema == "medmcqa":
        if cop_base is None:
            raise ValueError("the medmcqa schema needs cop_base (0 or 1)")
        read = partial(medmcqa_row, cop_base=cop_base)
    elif schema != "options":
        raise ValueError(f"unknown row schema {schema!r}; expected one of {', '.join(SCHEMAS)}")
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: data file not found")
    items = [
        read(row, f"{path}:{line_no}", line_no)
        for line_no, row in json_objects(path, error=FormatError)
    ]
    if subject is not None:
        items = [item for item in items if item.subject == subject]
    if not items:
        which = f" with subject {subject!r}" if subject is not None else ""
        raise FormatError(f"{path}: no rows{which}")
    return items
