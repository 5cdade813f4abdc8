"""data_prep.files: outputs written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_prep.files import TMP, atomic_write, remove_temporaries, write_json_atomic


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "results.md"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.md"]


def test_a_temporary_a_killed_write_leaves_is_removed_by_the_next_run(tmp_path: Path) -> None:
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_text("whole")

    atomic_write(tmp_path / "b.md", write)
    assert TMP in seen[0].name
    seen[0].write_text("half")  # the name a SIGKILL mid-write leaves behind
    write_json_atomic(tmp_path / "a.json", {"x": [1]})
    assert remove_temporaries([tmp_path]) == [seen[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.md"]
    assert (tmp_path / "a.json").read_text() == json.dumps({"x": [1]}, indent=2) + "\n"
