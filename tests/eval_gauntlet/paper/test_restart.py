"""Killed during its second fine-tune and relaunched with the same command, the paper's command
does not rerun the first, resumes the second from its checkpoint, and writes the table an
uninterrupted run writes.

Two tasks of the demo (``medqa``, then ``pubmedqa``) on the tiny model, 6 batches each with a
checkpoint every 2; the uninterrupted run goes alongside the one killed (one core each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.paths import REPO

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
FAST = [  # every recipe: 6 batches of 16, a checkpoint every 2, 8 test items scored
    "data.train_limit=96", "max_duration=6ba", "save_interval=2ba", "eval_interval=1000ba",
    "eval_subset_num_batches=1", "data.test_limit=8", "eval.bootstrap_iters=50",
    "callbacks.loss_curve.interval=1", "callbacks.finetune_export.save_interval=1dur",
]  # fmt: skip


def command(init: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "eval_gauntlet", "paper", str(init), "--out", str(out),
            "--demo", "--only", "medqa", "pubmedqa", "--", *FAST]  # fmt: skip


def table(out: Path) -> list[dict[str, object]]:
    """paper.json's rows, less where their predictions are."""
    rows = json.loads((out / "paper.json").read_text())["rows"]
    return [{k: v for k, v in row.items() if k != "predictions"} for row in rows]


def train_steps(run_dir: Path) -> list[str]:
    lines = (run_dir / "loss.csv").read_text().splitlines()[1:]
    return [line.split(",")[0] for line in lines if line.split(",")[2] == "train"]


@pytest.mark.slow
def test_killed_in_the_second_fine_tune_the_relaunch_resumes_it_and_gives_the_same_table(
    tiny_dir: Path, tmp_path: Path
) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    procs = []
    for out in (straight, killed):
        with (tmp_path / f"{out.name}.log").open("w") as log:
            procs.append(subprocess.Popen(command(tiny_dir, out), cwd=REPO, env=ENV, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
    deadline = time.time() + 400
    second = killed / "pubmedqa" / "checkpoints"
    while not (second / "latest-rank0.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(procs[1].pid, signal.SIGKILL)
    assert [p.wait() for p in procs] == [0, -signal.SIGKILL], (
        tmp_path / "straight.log"
    ).read_text()[-3000:]
    assert not list(second.glob("*-ba6-rank0.pt")), "finished before it was killed"
    first = json.loads((killed / "medqa" / "paper-state.json").read_text())
    assert first["status"] == "done" and not (killed / "paper.json").exists()
    again = subprocess.run(command(tiny_dir, killed), cwd=REPO, env=ENV, capture_output=True,
                           text=True, timeout=400)  # fmt: skip
    said = again.stdout + again.stderr
    assert again.returncode == 0, said[-3000:]
    assert "medqa: done in an earlier launch (skipped" in said
    assert "pubmedqa: interrupted: resuming" in said
    assert json.loads((killed / "medqa" / "paper-state.json").read_text()) == first  # not rerun
    resumed = json.loads((killed / "pubmedqa" / "paper-state.json").read_text())
    assert (resumed["status"], resumed["launches"]) == ("done", 2)
    assert len(list((killed / "pubmedqa" / "launches").iterdir())) == 2  # one run, two launches
    assert train_steps(killed / "pubmedqa") == [str(i) for i in range(1, 7)]  # from ba2 on
    assert table(killed) == table(straight)
    assert [r["status"] for r in table(killed) if r["task"] in ("medqa", "pubmedqa")] == [
        "run: plumbing (debug model, slices)"
    ] * 2
