"""Autoresume after any crash: a stale remote download removed, partial and corrupt checkpoints
removed."""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from biomedlm.autoresume import clear_stale_download, repair_save_folder
from biomedlm.trained.kinds import corrupt, incomplete
from tests.fixtures.checkpoints import sharded_copy
from tests.fixtures.runs import debug_command, losses, run_debug, run_training


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


def cut(path: Path, size: int) -> Path:
    """``path`` left with its first ``size`` bytes, as a save killed then leaves it."""
    with path.open("r+b") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize("fraction", [0.0, 1e-6, 0.01, 0.5, 0.99, -22])
def test_a_checkpoint_file_cut_off_anywhere_is_incomplete(
    composer_run: Path, tmp_path: Path, fraction: float
) -> None:
    whole = tmp_path / "ep0-ba2-rank0.pt"
    shutil.copy(composer_run / "ep0-ba2-rank0.pt", whole)
    assert incomplete(whole) is None
    size = whole.stat().st_size
    keep = size + int(fraction) if fraction < 0 else int(size * fraction)  # -22: no end record
    assert incomplete(cut(whole, keep)) is not None


def test_a_sharded_checkpoint_is_complete_only_with_metadata_and_every_shard(
    composer_run: Path, tmp_path: Path
) -> None:
    folder = sharded_copy(composer_run / "ep0-ba2-rank0.pt", tmp_path / "ep0-ba2")
    assert incomplete(folder) is None
    (shard,) = folder.glob("*.distcp")
    cut(shard, shard.stat().st_size // 2)
    assert "cut off" in str(incomplete(folder))
    shard.unlink()
    assert "missing" in str(incomplete(folder))
    (folder / ".metadata").unlink()
    assert incomplete(folder) == "no .metadata"


def test_partial_checkpoints_are_removed_and_latest_names_the_newest_complete(
    composer_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(composer_run, folder, symlinks=True)  # ep0-ba1, ep0-ba2, latest -> ep0-ba2
    cut(folder / "ep0-ba2-rank0.pt", 1000)  # the latest, cut off: fall back to ep0-ba1
    (folder / "ep0-ba3-rank0.pt").touch()  # kill -9 at the start of the next save
    sharded_copy(composer_run / "ep0-ba1-rank0.pt", folder / "ep0-ba1")
    (folder / "ep0-ba4").mkdir()  # FSDP's shards, killed before the .metadata
    (folder / "ep0-ba4" / "__0_0.distcp").write_bytes(b"\0" * 100)
    removed = repair_save_folder(str(folder))
    assert sorted(p.name for p in removed) == [
        "ep0-ba2-rank0.pt",
        "ep0-ba3-rank0.pt",
        "ep0-ba4",
    ]
    assert os.readlink(folder / "latest-rank0.pt") == "ep0-ba1-rank0.pt"
    assert os.readlink(folder / "latest-sharded-rank0") == "ep0-ba1"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["ep0-ba1", "ep0-ba1-rank0.pt", "latest-rank0.pt", "latest-sharded-rank0"]
    lines = [r.getMessage() for r in caplog.records if r.name == "biomedlm.autoresume"]
    assert len(lines) == 5 and sum("MB freed" in line for line in lines) == 3
    caplog.clear()
    assert repair_save_folder(str(folder)) == [] and not caplog.records  # nothing left to do


def test_of_two_checkpoints_at_one_batch_latest_keeps_the_later_epoch(
    composer_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``ep10-ba70`` (saved at the epoch's end) is newer than ``ep9-ba70``, not older as text."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    for name in ("ep9-ba70-rank0.pt", "ep10-ba70-rank0.pt"):
        shutil.copy(composer_run / "ep0-ba2-rank0.pt", folder / name)
    (folder / "latest-rank0.pt").symlink_to("ep10-ba70-rank0.pt")  # as Composer left it
    assert repair_save_folder(str(folder)) == [] and not caplog.records
    assert os.readlink(folder / "latest-rank0.pt") == "ep10-ba70-rank0.pt"


def test_the_save_folder_is_repaired_where_composer_saves_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``{run_name}`` in ``save_folder`` is filled in, as Composer fills it."""
    saved = tmp_path / "debug" / "checkpoints"
    saved.mkdir(parents=True)
    (saved / "ep0-ba3-rank0.pt").touch()  # a save cut off by a crash
    folder = str(tmp_path / "{run_name}" / "checkpoints")
    assert [p.name for p in repair_save_folder(folder, "debug")] == ["ep0-ba3-rank0.pt"]
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "s3:" / "bucket" / "debug"  # Composer's download of the remote's latest
    local.mkdir(parents=True)
    (local / "latest-rank0.pt").write_text("x")
    assert [p.name for p in clear_stale_download("s3://bucket/{run_name}", "debug")] == [
        "latest-rank0.pt"
    ]


def flip_tensor_byte(path: Path) -> Path:
    """One byte of ``path``'s largest tensor inverted in place, size intact (bit rot, a bad copy)."""
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
        with archive.open(info) as member:  # the member's data starts where its reader starts
            start = member._fileobj.tell()  # type: ignore[attr-defined]
    with path.open("r+b") as f:
        f.seek(start + info.file_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    return path


def test_a_corrupt_newest_checkpoint_is_removed_and_the_previous_resumed(
    composer_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(composer_run, folder, symlinks=True)  # ep0-ba1, ep0-ba2, latest -> ep0-ba2
    newest = folder / "ep0-ba2-rank0.pt"
    size = newest.stat().st_size
    flip_tensor_byte(newest)
    assert newest.stat().st_size == size and incomplete(newest) is None  # looks whole
    assert "bad CRC-32 in" in str(corrupt(newest))
    assert corrupt(folder / "ep0-ba1-rank0.pt") is None
    assert [p.name for p in repair_save_folder(str(folder))] == ["ep0-ba2-rank0.pt"]
    assert os.readlink(folder / "latest-rank0.pt") == "ep0-ba1-rank0.pt"
    (removal, pointed) = [r.getMessage() for r in caplog.records if r.name == "biomedlm.autoresume"]
    assert "ep0-ba2-rank0.pt (bad CRC-32 in" in removal and "\n" not in removal
    assert "now names ep0-ba1-rank0.pt" in pointed


def test_repair_leaves_remote_folders_and_other_ranks_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ep0-ba3-rank0.pt").touch()
    monkeypatch.setenv("RANK", "1")
    assert repair_save_folder(str(tmp_path)) == []
    monkeypatch.setenv("RANK", "0")
    assert repair_save_folder("s3://bucket/run") == [] and repair_save_folder(None) == []
    assert repair_save_folder(str(tmp_path / "missing")) == []
    assert (tmp_path / "ep0-ba3-rank0.pt").exists()


@pytest.mark.slow
def test_a_relaunch_after_a_crash_mid_save_resumes_from_the_last_complete_checkpoint(
    prepared: Path, tmp_path: Path
) -> None:
    data = [
        f"tokenizer.path={prepared / 'tokenizer'}",
        f"train_loader.streams.pubmed.local={prepared}",
        f"eval_loader.streams.pubmed.local={prepared}",
        f"save_folder={tmp_path / 'ckpt'}",
        "save_interval=2ba",
        "eval_interval=100ba",
        "callbacks.hf_checkpointer.save_interval=100ba",
    ]
    ckpt = tmp_path / "ckpt"
    assert len(losses(run_debug(tmp_path, *data, "max_duration=4ba"))) == 4
    (ckpt / "ep0-ba6-rank0.pt").touch()  # killed as the save of batch 6 began
    output = run_debug(tmp_path, *data, "max_duration=6ba")  # FileExistsError without the fix
    assert len(losses(output)) == 2 and "removed" in output  # batches 5 and 6, from ep0-ba4
    whole = (ckpt / "ep0-ba6-rank0.pt").read_bytes()
    cut(ckpt / "ep0-ba6-rank0.pt", len(whole) // 2)  # the latest, cut off (disk full)
    (ckpt / "ep0-ba8-rank0.pt").write_bytes(whole[: len(whole) // 3])  # and the next, killed
    output = run_debug(tmp_path, *data, "max_duration=8ba")
    assert len(losses(output)) == 4  # batches 5 to 8: ep0-ba4 was the newest complete one
    assert "now names ep0-ba4-rank0.pt" in output
    assert incomplete(ckpt / "ep0-ba8-rank0.pt") is None
    assert os.readlink(ckpt / "latest-rank0.pt") == "ep0-ba8-rank0.pt"


# The debug recipe on a disk that fills up at its first checkpoint (Composer's writer raises).
FULL_AT_FIRST_SAVE = """
import errno, os, sys
import composer.utils.checkpoint as composer_checkpoint
from biomedlm.train import main

def full(state_dict, filename):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

composer_checkpoint._write_checkpoint_file = full
sys.exit(main(sys.argv[1:]))
"""


def test_a_full_disk_during_a_save_ends_in_one_line(tmp_path: Path) -> None:
    """Was Composer's traceback (a relaunch recovered, but the first run ended in tracebacks)."""
    args = debug_command(tmp_path, "max_duration=1ba", "save_interval=1ba", launcher=[])
    result = run_training([sys.executable, "-c", FULL_AT_FIRST_SAVE, *args], timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: no space left on device (under {tmp_path / 'run' / 'checkpoints'}, "
        f"{tmp_path / 'run'}); training stopped. Free space (or keep fewer checkpoints: "
        "save_num_checkpoints_to_keep) and relaunch the same command: it resumes from the "
        "newest complete checkpoint"
    )
