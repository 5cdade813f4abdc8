"""Small JSONL files (task data, fine-tuning sets, prompts) read line by line, a bad line one
error naming ``file:line`` of the caller's own type. Corpus files have their own reader
(``data_prep.sources.jsonl``): they are compressed and may skip bad lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def json_objects(
    path: Path, *, error: type[ValueError] = ValueError
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number from 1, object)`` of each non-blank line of ``path``."""
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
