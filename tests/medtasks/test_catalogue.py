"""The one parser of task files: strict entries, includes first, merged by name, paths beside the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from medtasks.catalogue import DEFAULT_TASKS_FILE, SELF, read_catalogue


class Bad(ValueError):
    """A caller's own error type."""


def test_includes_merge_by_name_and_paths_are_beside_the_file_that_writes_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.yaml").write_text(
        "include: default\ntasks:\n  mine: {data: rows.jsonl, format: lettered, category: c}\n"
    )
    top = tmp_path / "top.yaml"
    top.write_text(
        "include: sub/base.yaml\n"
        "tasks:\n"
        "  mine: {fewshot_source: train.jsonl}\n"  # overrides only the key it writes
        "  pubmedqa: {num_fewshot: [0], pmid_field: realidx}\n"
    )
    entries = read_catalogue(top, error=Bad)
    assert list(entries)[:2] == ["medqa_4options", "pubmedqa"] and "mine" in entries
    mine = entries["mine"]
    assert mine.entry.data == str(tmp_path / "sub" / "rows.jsonl")
    assert mine.entry.fewshot_source == str(tmp_path / "train.jsonl")
    assert (mine.entry.format, mine.origin) == ("lettered", str(top))
    pubmedqa = entries["pubmedqa"].entry
    assert pubmedqa.num_fewshot == [0] and pubmedqa.pmid_field == "realidx"
    assert pubmedqa.data == str(DEFAULT_TASKS_FILE.parent / "data" / "pubmedqa_labeled_test.jsonl")
    assert entries["medqa_4options"].entry.fewshot_source == SELF


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tasks:\n  t: {dataa: x.jsonl}\n", r"unknown key 'tasks.t.dataa'. Did you mean 'data'"),
        ("include: [1]\n", r"include: expected a file name or a list of them"),
        ("include: none.yaml\n", r"include 'none.yaml': file not found"),
        ("include: t.yaml\n", r"t\.yaml: includes itself"),
    ],
)
def test_bad_files_raise_the_callers_error_in_one_line(
    tmp_path: Path, body: str, message: str
) -> None:
    (tmp_path / "t.yaml").write_text(body)
    with pytest.raises(Bad, match=message) as caught:
        read_catalogue(tmp_path / "t.yaml", error=Bad)
    assert "\n" not in str(caught.value)
