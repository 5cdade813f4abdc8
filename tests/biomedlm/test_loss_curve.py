"""The loss-curve callback: survives repeated fits and keeps one curve across a resume."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from biomedlm.callbacks.loss_curve import LossCurve


def fake_state(batch: int, loss: float) -> SimpleNamespace:
    timestamp = SimpleNamespace(batch=batch, token=batch * 100)
    return SimpleNamespace(timestamp=timestamp, loss=torch.tensor(loss), eval_metrics={})


def train(callback: LossCurve, start: int, stop: int) -> None:
    callback.fit_start(fake_state(start, 0.0), None)  # type: ignore[arg-type]
    for b in range(start + 1, stop + 1):
        callback.batch_end(fake_state(b, 10.0 - b), None)  # type: ignore[arg-type]
    callback.fit_end(fake_state(stop, 0.0), None)  # type: ignore[arg-type]


def steps(folder: Path) -> list[int]:
    return [int(line.split(",")[0]) for line in (folder / "loss.csv").read_text().splitlines()[1:]]


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
