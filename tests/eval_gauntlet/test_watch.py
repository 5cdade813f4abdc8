"""The watcher scores each checkpoint exactly once, never a half-written one, across restarts."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from eval_gauntlet.__main__ import main
from eval_gauntlet.watch import Expected, find_checkpoints, scored_checkpoints, watch
from eval_gauntlet.watch_lock import (
    FolderLock,
    Trainer,
    announce,
    announced,
    is_free,
    still_training,
)

ARGS = [
    "--tasks",
    "medqa_4options",
    "--sample",
    "8",
    "--shots",
    "0",
    "--no-progress",
    "--settle",
    "0.5",
]


def make_run(tmp_path: Path, tiny_dir: Path, steps: list[int]) -> Path:
    folder = tmp_path / "hf" / "huggingface"
    for step in steps:
        shutil.copytree(tiny_dir, folder / f"ba{step}")
        age(folder / f"ba{step}", 60)
    return folder


def age(path: Path, seconds: float) -> None:
    """Make a checkpoint (a file, or a folder and its files) look ``seconds`` old."""
    old = time.time() - seconds
    for f in [*path.iterdir(), path] if path.is_dir() else [path]:
        os.utime(f, (old, old))


def record(out: Path, name: str) -> None:
    """What scoring leaves in the results: the checkpoint's gauntlet average."""
    out.mkdir(exist_ok=True)
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps({"checkpoint": name, "kind": "average"}) + "\n")


def scored_rows(out: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return [(r["checkpoint"], r["kind"]) for r in rows if r["kind"] in ("task", "average")]


def test_each_checkpoint_scored_once_across_restarts(tmp_path: Path, tiny_dir: Path) -> None:
    folder = make_run(tmp_path, tiny_dir, [10, 20])
    out = tmp_path / "eval"
    assert (
        main(["watch", str(folder), "--once", "--out", str(out), "--tokens-per-step", "100", *ARGS])
        == 0
    )
    assert scored_rows(out) == [
        ("ba10", "task"),
        ("ba10", "average"),
        ("ba20", "task"),
        ("ba20", "average"),
    ]
    assert main(["watch", str(folder), "--once", "--out", str(out), *ARGS]) == 0  # a restart
    assert len(scored_rows(out)) == 4
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["tokens"] for r in rows if r["kind"] == "task"} == {1000, 2000}
    assert (out / "results.png").is_file() and (out / "results.md").is_file()


def test_a_folder_scored_again_with_other_settings_is_scored_again(
    tmp_path: Path, tiny_dir: Path
) -> None:
    """Rows scored another way (sample, seed, dtypes, gold text) do not count as scored, nor do
    older rows a later scoring replaced in the table."""
    folder = make_run(tmp_path, tiny_dir, [10])
    out = tmp_path / "eval"
    assert main(["score", str(folder), "--out", str(out), *ARGS]) == 0
    assert main(["score", str(folder), "--out", str(out), *ARGS, "--sample", "4"]) == 0
    assert main(["score", str(folder), "--out", str(out), *ARGS, "--sample", "4"]) == 0  # done
    assert main(["score", str(folder), "--out", str(out), *ARGS]) == 0  # the first way again
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    subsets = [r["subset"]["sample"] for r in rows if r["kind"] == "task"]
    assert subsets == [8, 4, 8]


def test_a_checkpoint_cut_off_mid_evaluation_is_scored_again(
    tmp_path: Path, tiny_dir: Path
) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    out = tmp_path / "eval"
    out.mkdir()
    partial = {
        "checkpoint": "ba10",
        "kind": "task",
        "task": "medqa_4options",
        "shots": 0,
        "acc": 0.0,
    }
    (out / "results.jsonl").write_text(json.dumps(partial) + "\n")  # killed before its average
    assert main(["watch", str(folder), "--once", "--out", str(out), *ARGS]) == 0
    assert scored_rows(out)[-2:] == [("ba10", "task"), ("ba10", "average")]


def test_a_selection_completing_no_category_is_scored_once(tmp_path: Path, tiny_dir: Path) -> None:
    """No average is written for it: its task rows say it was scored."""
    folder = make_run(tmp_path, tiny_dir, [10])
    out = tmp_path / "eval"
    args = ["--tasks", "mmlu_anatomy", "--limit", "2", "--shots", "0", "--interval", "0.2"]
    start = time.monotonic()
    assert main(["watch", str(folder), "--out", str(out), *args, "--idle-timeout", "1"]) == 0
    assert time.monotonic() - start < 30
    assert scored_rows(out) == [("ba10", "task")]


def test_scored_means_the_selections_rows_then_its_average(tmp_path: Path) -> None:
    """A crash between the task rows and the average re-scores; a later one-task re-score at
    another --shots (its row, then its own average) does not undo the default one."""
    default = Expected(frozenset({("medqa", 3), ("pubmedqa", 0)}), average=True, shots=None)

    def scored(*rows: tuple[str, str, int | None]) -> set[str]:
        lines = [{"checkpoint": "ba10", "kind": kind, "task": task, "shots": shots}
                 for kind, task, shots in rows]  # fmt: skip
        (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
        return scored_checkpoints(tmp_path, default)

    whole = [("task", "medqa", 3), ("task", "pubmedqa", 0), ("average", "average", None)]
    assert scored(*whole) == {"ba10"}
    assert scored(*whole[:2]) == set()  # killed before the average
    assert scored(*whole, ("task", "pubmedqa", 0), ("average", "average", 0)) == {"ba10"}
    assert scored(*whole, ("task", "pubmedqa", 0)) == set()  # that re-score killed


def test_checkpoints_of_one_batch_are_found_in_the_order_they_were_saved(tmp_path: Path) -> None:
    for name in ("ep10-ba70-rank0.pt", "ep9-ba70-rank0.pt", "ep0-ba8-rank0.pt"):
        (tmp_path / name).write_bytes(b"x")
    found = [path.name for _, path in find_checkpoints(tmp_path)]
    assert found == ["ep0-ba8-rank0.pt", "ep9-ba70-rank0.pt", "ep10-ba70-rank0.pt"]


def test_a_checkpoint_being_written_is_not_read(tmp_path: Path, tiny_dir: Path) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    writing = folder / "ba20"
    writing.mkdir()
    shutil.copy(tiny_dir / "config.json", writing)
    seen: list[str] = []

    def look(settle: float) -> dict[str, str]:
        score = lambda p, name, step: not seen.append(name)  # noqa: E731
        return watch(folder, tmp_path / "eval", score, once=True, settle=settle).skipped

    assert look(settle=0.5) == {"ba20": "still being written"}  # no weights yet
    for f in tiny_dir.iterdir():
        shutil.copy(f, writing)
    assert look(settle=30) == {"ba20": "still being written"}  # just written: not settled
    assert set(seen) == {"ba10"}  # ba20 never read


def test_a_checkpoint_written_while_watching_is_scored(tmp_path: Path, tiny_dir: Path) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    seen: list[str] = []

    def score(path: Path, name: str, step: int) -> bool:
        seen.append(name)
        record(tmp_path / "eval", name)
        return True

    def trainer() -> None:
        time.sleep(0.3)
        shutil.copytree(tiny_dir, folder / "ba20")

    thread = threading.Thread(target=trainer)
    thread.start()
    watch(folder, tmp_path / "eval", score, interval=0.2, settle=0.5, idle_timeout=3)
    thread.join()
    assert seen == ["ba10", "ba20"]


def test_a_checkpoint_removed_meanwhile_is_passed_over(tmp_path: Path, tiny_dir: Path) -> None:
    folder = make_run(tmp_path, tiny_dir, [10, 20])

    def score(path: Path, name: str, step: int) -> bool:
        shutil.rmtree(folder / "ba20")  # rotated away while ba10 is scored
        return True

    assert watch(folder, tmp_path / "eval", score, once=True, settle=0).scored == ["ba10"]


def test_an_unreadable_checkpoint_is_tried_again_only_once_it_changes(
    tmp_path: Path, tiny_dir: Path
) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    out = tmp_path / "eval"
    tries: list[float] = []

    def score(path: Path, name: str, step: int) -> bool:
        tries.append(time.monotonic())
        if len(tries) == 1:
            return False  # unreadable the first time
        record(out, name)
        return True

    def writer() -> None:  # rewrites the export in place: same folder, new bytes
        time.sleep(0.5)
        with open(folder / "ba10" / "config.json", "a") as f:
            f.write("\n")

    thread = threading.Thread(target=writer)
    start = time.monotonic()
    thread.start()
    watch(folder, out, score, interval=0.05, settle=0, idle_timeout=1.0)
    thread.join()
    # ten passes while unchanged, no retry; once changed, scored
    assert len(tries) == 2 and tries[1] - start >= 0.5


def test_a_zero_byte_checkpoint_is_reported_broken_once_not_written_forever(
    tmp_path: Path, tiny_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    (folder / "ep0-ba5-rank0.pt").touch()  # what kill -9 during Composer's save leaves
    seen: list[str] = []

    def score(path: Path, name: str, step: int) -> bool:
        seen.append(name)
        record(tmp_path / "eval", name)
        return True

    caplog.set_level(logging.INFO, logger="eval_gauntlet")
    report = watch(
        folder, tmp_path / "eval", score, interval=0.05, settle=0, broken_after=0.5, idle_timeout=1
    )
    assert seen == ["ba10"] and report.skipped == {"ep0-ba5-rank0": "unreadable, unchanged since"}
    lines = [r.getMessage() for r in caplog.records if "ep0-ba5-rank0" in r.getMessage()]
    assert len(lines) == 2  # said once each over ~20 passes, not at every look
    assert "still being written" in lines[0] and "incomplete" in lines[1]

    age(folder / "ep0-ba5-rank0.pt", 3600)  # an old one: broken at the first look
    report = watch(folder, tmp_path / "eval", score, once=True, settle=0)
    assert report.skipped == {"ep0-ba5-rank0": "incomplete"}


def test_two_watchers_on_one_folder_the_second_stops_at_once(
    tmp_path: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    out = tmp_path / "eval"
    out.mkdir()
    (out / "watcher.lock").write_text("999999\n")  # a stale pid of a dead watcher: no obstacle
    (out / "watcher.pid").write_text("")  # the old scheme's empty pid file: no obstacle either
    with FolderLock(out):  # a live watcher
        start = time.monotonic()
        assert main(["watch", str(folder), "--out", str(out), *ARGS]) == 4
        assert time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pid {os.getpid()}" in err and "one watcher per" in err
    assert not (out / "results.jsonl").exists()
    assert main(["watch", str(folder), "--once", "--out", str(out), *ARGS]) == 0  # lock released


def trainer_process(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", str(seconds)])


def test_the_watcher_lives_as_long_as_its_trainer_then_scores_what_remains(
    tmp_path: Path, tiny_dir: Path
) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    out = tmp_path / "eval"
    trainer = trainer_process(2.0)

    def last_export() -> None:  # written just before training ends: not settled when it ends
        time.sleep(1.0)
        shutil.copytree(tiny_dir, folder / "ba20")

    writer = threading.Thread(target=last_export)
    writer.start()
    start = time.monotonic()
    args = [*ARGS[:-1], "60", "--interval", "0.2", "--trainer-pid", str(trainer.pid)]
    assert main(["watch", str(folder), "--out", str(out), *args]) == 0
    writer.join()
    trainer.wait()
    assert 2.0 <= time.monotonic() - start < 60  # no idle timeout, no waiting for the settle
    assert [c for c, kind in scored_rows(out) if kind == "average"] == ["ba10", "ba20"]


def test_a_relaunched_run_is_followed_by_the_running_watcher(
    tmp_path: Path, tiny_dir: Path
) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    out = tmp_path / "eval"
    first, relaunch = trainer_process(1.0), trainer_process(3.0)
    announce(out, Trainer.of(first.pid))

    def relaunched() -> None:  # its callback announces it; the watcher's lock is held
        time.sleep(0.5)
        announce(out, Trainer.of(relaunch.pid))
        assert not is_free(out)
        time.sleep(1.5)
        shutil.copytree(tiny_dir, folder / "ba20")  # written by the relaunch

    thread = threading.Thread(target=relaunched)
    thread.start()
    start = time.monotonic()
    args = [*ARGS, "--interval", "0.2", "--trainer-pid", str(first.pid)]
    assert main(["watch", str(folder), "--out", str(out), *args]) == 0
    thread.join()
    assert time.monotonic() - start >= 3.0  # it outlived the first trainer, served the relaunch
    assert [c for c, kind in scored_rows(out) if kind == "average"] == ["ba10", "ba20"]
    first.wait(), relaunch.wait()
    announce(out, Trainer(relaunch.pid, Trainer.of(relaunch.pid).start, ended=True))
    assert announced(out) is not None and not still_training(out, Trainer.of(relaunch.pid))


def test_a_trainer_is_known_by_pid_and_start_time(tmp_path: Path) -> None:
    me = Trainer.of(os.getpid())
    assert me.alive() and me.start is not None
    assert not Trainer(os.getpid(), "1").alive()  # the pid reused by another process
    done = trainer_process(0)
    done.wait()
    assert not Trainer.of(done.pid).alive()
    assert announced(tmp_path) is None
    (tmp_path / "trainer.json").write_text("")  # an empty or half-written file names none
    assert announced(tmp_path) is None
