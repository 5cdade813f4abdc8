"""The loss-curve callback: Composer's batch loss, appended as it comes, one curve across resumes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from biomedlm.callbacks.loss_curve import LossCurve, read_rows
from tests.fixtures.runs import losses, run_debug


def fake_state(batch: int, loss: float, last_micro_batch: float | None = None) -> SimpleNamespace:
    """``state.loss`` is rank 0's last micro-batch; ``total_loss_dict`` the batch's loss."""
    timestamp = SimpleNamespace(batch=batch, token=batch * 100)
    micro = torch.tensor(loss if last_micro_batch is None else last_micro_batch)
    return SimpleNamespace(
        timestamp=timestamp,
        loss=micro,
        total_loss_dict={"loss/train/total": loss},
        eval_metrics={},
    )


def train(callback: LossCurve, start: int, stop: int) -> None:
    callback.fit_start(fake_state(start, 0.0), None)  # type: ignore[arg-type]
    for b in range(start + 1, stop + 1):
        callback.batch_end(fake_state(b, 10.0 - b), None)  # type: ignore[arg-type]
    callback.fit_end(fake_state(stop, 0.0), None)  # type: ignore[arg-type]


def steps(folder: Path) -> list[int]:
    return [int(row["step"]) for row in read_rows(folder / "loss.csv")]


def test_resume_drops_rows_past_the_restored_batch(tmp_path: Path) -> None:
    train(LossCurve(str(tmp_path), interval=2), 0, 6)
    assert steps(tmp_path) == [1, 2, 3, 4, 5, 6]
    # the run died after batch 6 but its last checkpoint was batch 4: resume from there
    train(LossCurve(str(tmp_path), interval=2), 4, 8)
    assert steps(tmp_path) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*tmp*"))


def test_fit_twice_with_one_callback(tmp_path: Path) -> None:
    callback = LossCurve(str(tmp_path))
    train(callback, 0, 3)
    train(callback, 0, 3)
    assert steps(tmp_path) == [1, 2, 3]


def test_the_recorded_loss_is_the_batch_loss_not_the_last_micro_batch(tmp_path: Path) -> None:
    callback = LossCurve(str(tmp_path))
    callback.fit_start(fake_state(0, 0.0), None)  # type: ignore[arg-type]
    callback.batch_end(fake_state(1, 4.5924, last_micro_batch=4.5676), None)  # type: ignore[arg-type]
    assert [r["loss"] for r in read_rows(tmp_path / "loss.csv")] == ["4.592400"]


def test_rows_are_on_disk_before_the_next_batch_and_a_cut_line_is_ignored(tmp_path: Path) -> None:
    callback = LossCurve(str(tmp_path), interval=100)  # never redrawn: rows are still written
    callback.fit_start(fake_state(0, 0.0), None)  # type: ignore[arg-type]
    callback.batch_end(fake_state(1, 3.0), None)  # type: ignore[arg-type]
    assert steps(tmp_path) == [1]
    with open(tmp_path / "loss.csv", "a") as f:
        f.write("2,200,tra")  # killed mid-line
    assert steps(tmp_path) == [1]
    callback.fit_start(fake_state(1, 0.0), None)  # type: ignore[arg-type]
    callback.batch_end(fake_state(2, 2.0), None)  # type: ignore[arg-type]
    assert steps(tmp_path) == [1, 2]


@pytest.mark.slow
def test_a_run_with_micro_batches_records_what_the_loggers_receive(tmp_path: Path) -> None:
    """4 micro-batches per batch: the curve is Composer's loss/train/total, not one micro-batch."""
    output = run_debug(
        tmp_path, "max_duration=3ba", "device_train_microbatch_size=2", "eval_interval=3ba"
    )
    logged = losses(output)  # the console prints 4 decimals
    rows = read_rows(tmp_path / "run" / "loss.csv")
    recorded = [float(r["loss"]) for r in rows if r["split"] == "train"]
    assert recorded == pytest.approx(logged, abs=5.1e-5) and len(logged) == 3
    assert [r["split"] for r in rows] == ["train"] * 3 + ["eval"]
