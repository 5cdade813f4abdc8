"""kill -9 in the middle of a run, relaunch the same command: the same losses and the same weights.

Dropout is on, the data is shuffled and streamed, and the resume is mid-epoch: the case where
Composer 0.32 alone does not restore the RNG state (the ``exact_resume`` callback does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from biomedlm.callbacks.loss_curve import read_rows
from tests.fixtures.paths import REPO
from tests.fixtures.runs import STREAMING_PREFIX_RACE, debug_command, losses, run_debug


def overrides(out: Path, extra: list[str]) -> list[str]:
    return [
        "max_duration=8ba",
        "save_interval=4ba",
        "eval_interval=100ba",
        f"save_folder={out / 'ckpt'}",
        "callbacks.hf_checkpointer.save_interval=100ba",
        "model.dropout=0.1",
        *extra,
    ]


def run(out: Path, extra: list[str]) -> str:
    return run_debug(out, *overrides(out, extra), timeout=300)


def run_killed_after_first_checkpoint(out: Path, extra: list[str]) -> None:
    log = out.parent / f"{out.name}.killed.log"
    for attempt in (1, 2):  # once more if it met the streaming prefix race (runs.run_training)
        with log.open("w") as sink:
            proc = subprocess.Popen(
                debug_command(out, *overrides(out, extra)),
                cwd=REPO,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.time() + 240
        while not (out / "ckpt" / "latest-rank0.pt").exists() and time.time() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        if attempt == 2 or not STREAMING_PREFIX_RACE.search(log.read_text()):
            raise AssertionError(f"the run ended before it was killed: {log.read_text()[-2000:]}")
    assert not (out / "ckpt" / "ep0-ba8-rank0.pt").exists(), "the run finished before it was killed"


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state"]["model"]


@pytest.mark.slow
def test_kill_and_relaunch_is_bitwise_identical(tmp_path: Path) -> None:
    reference = losses(run(tmp_path / "straight", []))
    assert len(reference) == 8
    run_killed_after_first_checkpoint(tmp_path / "killed", [])
    resumed = losses(run(tmp_path / "killed", []))
    assert len(resumed) < 8 and resumed == reference[8 - len(resumed) :]
    a, b = (
        weights(tmp_path / "straight" / "ckpt" / "ep0-ba8-rank0.pt"),
        weights(tmp_path / "killed" / "ckpt" / "ep0-ba8-rank0.pt"),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the loss curve across the kill is the uninterrupted one, each batch once
    straight, killed = (
        read_rows(tmp_path / r / "run" / "loss.csv") for r in ("straight", "killed")
    )
    assert [r["step"] for r in killed if r["split"] == "train"] == [str(i) for i in range(1, 9)]
    assert killed == straight


@pytest.mark.slow
def test_without_exact_resume_the_relaunch_diverges(tmp_path: Path) -> None:
    """The negative control: Composer 0.32 alone does not restore the RNG mid-epoch."""
    off = ["callbacks.exact_resume=null"]
    reference = losses(run(tmp_path / "straight", off))
    run_killed_after_first_checkpoint(tmp_path / "killed", off)
    resumed = losses(run(tmp_path / "killed", off))
    assert (
        0 < len(resumed) < 8 and resumed != reference[8 - len(resumed) :]
    )  # dropout's draws differ
