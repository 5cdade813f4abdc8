"""Only Composer's stale local copy of a remote run's latest checkpoint is removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from biomedlm.autoresume import clear_stale_download


def test_removes_only_the_downloaded_latest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "s3:" / "bucket" / "run"  # where Composer downloads s3://bucket/run/...
    local.mkdir(parents=True)
    for name in ("latest-rank0.pt", "latest-rank1.pt", "ep0-ba2-rank0.pt", "notes.txt"):
        (local / name).write_text("x")
    (local / "latest-sharded-rank0").mkdir()  # FSDP's sharded checkpoints: a folder
    (local / "latest-sharded-rank0" / "__0_0.distcp").write_text("x")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert clear_stale_download("s3://bucket/run") == []  # only a node's first process
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert [p.name for p in clear_stale_download("s3://bucket/run")] == [
        "latest-rank0.pt",
        "latest-rank1.pt",
        "latest-sharded-rank0",
    ]
    assert sorted(p.name for p in local.iterdir()) == ["ep0-ba2-rank0.pt", "notes.txt"]


def test_a_local_save_folder_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "latest-rank0.pt").write_text("x")  # a local run's own latest: the real one
    assert clear_stale_download(str(tmp_path)) == [] and (tmp_path / "latest-rank0.pt").exists()
    assert clear_stale_download(None) == []
