"""JSONL files read line by line, a bad line reported as ``file:line`` in one line.

The fine-tuning readers (multiple choice, generation), ``biomedlm.generate``'s prompt files and
the gauntlet's task files all read JSONL the same way; each passes its own error type, so its
callers keep catching what they caught. ``data_prep.sources.jsonl`` has its own reader: corpus
files are compressed and may skip bad lines (a ``ReadContext``), these are small and never do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def json_objects(
    path: Path, *, error: type[ValueError] = ValueError
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each non-blank line of ``path``, counting lines from 1.

    A line that is not UTF-8, not JSON or not a JSON object raises ``error`` naming
    ``file:line``.
    """
    with path.open("rb") as lines:
        for line_no, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise error(f"{path}:{line_no}: not UTF-8 text") from None
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise error(f"{path}:{line_no}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise error(f"{path}:{line_no}: expected a JSON object, got {type(row).__name__}")
            yield line_no, row
