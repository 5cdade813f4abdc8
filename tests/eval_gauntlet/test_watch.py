"""The watcher scores each checkpoint exactly once, never a half-written one, across restarts."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

from eval_gauntlet.__main__ import main
from eval_gauntlet.watch import is_complete, watch

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
        old = time.time() - 60
        for f in (folder / f"ba{step}").iterdir():
            os.utime(f, (old, old))
    return folder


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


def test_a_checkpoint_being_written_is_not_read(tmp_path: Path, tiny_dir: Path) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    writing = folder / "ba20"
    writing.mkdir()
    shutil.copy(tiny_dir / "config.json", writing)
    assert not is_complete(writing, settle=0.5)  # no weights yet
    for f in tiny_dir.iterdir():
        shutil.copy(f, writing)
    assert not is_complete(writing, settle=30)  # just written: not settled
    seen: list[str] = []
    watch(
        folder, tmp_path / "eval", lambda p, name, step: not seen.append(name), once=True, settle=30
    )
    assert seen == ["ba10"]


def test_a_checkpoint_written_while_watching_is_scored(tmp_path: Path, tiny_dir: Path) -> None:
    folder = make_run(tmp_path, tiny_dir, [10])
    seen: list[str] = []

    def score(path: Path, name: str, step: int) -> bool:
        seen.append(name)
        (tmp_path / "eval").mkdir(exist_ok=True)
        with open(tmp_path / "eval" / "results.jsonl", "a") as f:
            f.write(json.dumps({"checkpoint": name, "kind": "average"}) + "\n")
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

    assert watch(folder, tmp_path / "eval", score, once=True, settle=0) == ["ba10"]


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
        out.mkdir(exist_ok=True)
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps({"checkpoint": name, "kind": "average"}) + "\n")
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
