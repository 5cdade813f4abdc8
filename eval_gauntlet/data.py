"""Benchmark rows from JSONL, validated: every problem is one line naming ``file:line``.

Schema (all shipped files, and any benchmark added through ``tasks.yaml``): ``question``
(str), ``options`` (object, letter -> option text, in display order), ``answer_idx`` (the
gold letter); optional ``realidx`` (a stable id) and ``subject`` (MMLU).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eval_gauntlet.errors import GauntletError


@dataclass(frozen=True)
class Item:
    """One multiple-choice question."""

    key: str  # ``realidx`` when the row has one, else the line number
    source: str  # "file:line", for messages and the audit trail
    question: str
    options: dict[str, str]  # letter -> option text, in file order
    answer: str  # the gold letter, a key of ``options``
    subject: str | None = None

    @property
    def gold(self) -> int:
        """Index of the gold option in ``options``."""
        return list(self.options).index(self.answer)


def _row_to_item(row: object, source: str, line_no: int) -> Item:
    if not isinstance(row, dict):
        raise GauntletError(f"{source}: expected a JSON object, got {type(row).__name__}")
    for name in ("question", "options", "answer_idx"):
        if name not in row:
            raise GauntletError(f"{source}: missing field '{name}'")
    question, options, answer = row["question"], row["options"], row["answer_idx"]
    if not isinstance(question, str) or not question.strip():
        raise GauntletError(f"{source}: 'question' must be a non-empty string")
    if not isinstance(options, dict) or len(options) < 2:
        raise GauntletError(f"{source}: 'options' must be an object with at least two options")
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in options.items()):
        raise GauntletError(f"{source}: every option must be a non-empty string")
    if answer not in options:
        letters = ", ".join(options)
        raise GauntletError(f"{source}: answer_idx {answer!r} is not among the options {letters}")
    subject = row.get("subject")
    key = row.get("realidx")
    return Item(
        key=str(key) if key is not None else str(line_no),
        source=source,
        question=question,
        options=dict(options),
        answer=answer,
        subject=subject if isinstance(subject, str) else None,
    )


def load_items(path: str | Path, subject: str | None = None) -> list[Item]:
    """Read and validate every row of ``path``; keep rows of ``subject`` when one is given."""
    path = Path(path)
    if not path.is_file():
        raise GauntletError(f"{path}: data file not found")
    items = []
    with path.open("rb") as lines:
        for line_no, raw in enumerate(lines, start=1):
            source = f"{path}:{line_no}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise GauntletError(f"{source}: not valid UTF-8") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise GauntletError(f"{source}: invalid JSON ({exc.msg})") from None
            items.append(_row_to_item(row, source, line_no))
    if subject is not None:
        items = [item for item in items if item.subject == subject]
    if not items:
        which = f" with subject {subject!r}" if subject is not None else ""
        raise GauntletError(f"{path}: no rows{which}")
    return items
