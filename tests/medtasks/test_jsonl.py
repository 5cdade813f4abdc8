"""The JSONL line reader shared by fine-tuning, ``biomedlm.generate`` and the gauntlet's tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from medtasks.jsonl import json_objects


class Bad(ValueError):
    """A caller's own error type."""


def test_objects_with_their_line_numbers_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  \r\n{"b": "\xc3\xa9"}\r\n{"c": []}')
    assert list(json_objects(path)) == [(1, {"a": 1}), (4, {"b": "é"}), (5, {"c": []})]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": 1}\n\xff\xfe\n', "not UTF-8 text"),
        (b'{"a": 1}\n{"a": \n', "invalid JSON (Expecting value)"),
        (b'{"a": 1}\n[1, 2]\n', "expected a JSON object, got list"),
    ],
)
def test_a_bad_line_raises_the_callers_error_naming_file_and_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    rows = json_objects(path, error=Bad)
    assert next(rows) == (1, {"a": 1})  # lines before the bad one are read
    with pytest.raises(Bad) as caught:
        next(rows)
    assert str(caught.value) == f"{path}:2: {message}"
