"""The benchmark release formats: each bad row is one line naming its file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medtasks.formats import FormatError, load_items
from tests.fixtures.tasks import ROW, medmcqa, write_jsonl


def test_malformed_json_row_names_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [ROW, ROW, ROW], {1: '{"question": "x", '})
    with pytest.raises(FormatError, match=rf"^{path}:2: invalid JSON \("):
        load_items(path)


def test_answer_letter_not_among_the_options(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [ROW, {**ROW, "answer_idx": "E"}])
    with pytest.raises(
        FormatError, match=rf"^{path}:2: answer_idx 'E' is not among the options A, B$"
    ):
        load_items(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"options": ROW["options"], "answer_idx": "A"}, "missing field 'question'"),
        ({**ROW, "options": ["kidney", "skin"]}, "'options' must be an object"),
        ({**ROW, "options": {"A": "kidney", "B": ""}}, "every option must be a non-empty string"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_bad_rows(tmp_path: Path, row: object, message: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(FormatError, match=rf"^{path}:2: {message}"):
        load_items(path)


def test_non_utf8_and_empty_subject(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(json.dumps(ROW).encode() + b"\n\xff\xfe\n")
    with pytest.raises(FormatError, match=rf"^{path}:2: not UTF-8"):
        load_items(path)
    write_jsonl(path, [ROW])
    with pytest.raises(FormatError, match=rf"^{path}: no rows with subject 'anatomy'"):
        load_items(path, "anatomy")


@pytest.mark.parametrize(("base", "cops", "letters"), [(1, [1, 4], "AD"), (0, [0, 3], "AD")])
def test_medmcqa_release_rows_with_their_stated_cop_base(
    tmp_path: Path, base: int, cops: list[int], letters: str
) -> None:
    path = write_jsonl(tmp_path / "dev.json", [medmcqa(cop) for cop in cops])
    items = load_items(path, schema="medmcqa", cop_base=base)
    assert [item.answer for item in items] == list(letters)
    assert items[0].options == {"A": "w", "B": "x", "C": "y", "D": "z"}
    assert (items[0].key, items[0].subject) == ("e5d2", "Anatomy")


@pytest.mark.parametrize(
    ("base", "cop", "message"),
    [
        (1, 0, r"cop 0 is outside 1..4 \(cop_base 1\)"),
        (1, 5, r"cop 5 is outside 1..4"),
        (0, 4, r"cop 4 is outside 0..3 \(cop_base 0\)"),
        (0, -1, r"cop -1 is outside 0..3"),  # the hub's unlabelled test split
        (1, "2", r"'cop' must be an integer, got '2'"),
        (1, True, r"'cop' must be an integer, got True"),
    ],
)
def test_medmcqa_cop_out_of_range_names_file_and_line(
    tmp_path: Path, base: int, cop: object, message: str
) -> None:
    path = write_jsonl(tmp_path / "dev.json", [medmcqa(base), medmcqa(cop)])
    with pytest.raises(FormatError, match=rf"^{path}:2: {message}"):
        load_items(path, schema="medmcqa", cop_base=base)
