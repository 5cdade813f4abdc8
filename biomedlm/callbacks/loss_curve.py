"""Write the run's loss curve as CSV and PNG in the run folder, across restarts.

Registered as the ``loss_curve`` callback::

    callbacks:
      loss_curve:
        folder: runs/debug-cpu
        interval: 10   # redraw every 10 batches (and at the end of training)

Each training batch's loss (and each evaluation's loss) is appended to ``loss.csv``; on a
resumed run, rows past the restored batch are dropped first, so the curve stays one curve.
Only rank 0 writes.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import torch
from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import dist

log = logging.getLogger(__name__)
FIELDS = ("step", "tokens", "split", "loss")


def _scalar(loss: object) -> float:
    """Composer's ``state.loss`` (a tensor, a sequence of them, or a dict with ``total``)."""
    if isinstance(loss, dict):
        loss = loss.get("total", next(iter(loss.values())))
    if isinstance(loss, (list, tuple)):
        return sum(_scalar(part) for part in loss)
    if isinstance(loss, torch.Tensor):
        return float(loss.detach().float().mean())
    return float(loss)  # type: ignore[arg-type]


class LossCurve(Callback):
    """Record train/eval loss per batch; draw ``loss.png`` every ``interval`` batches and at the end."""

    def __init__(self, folder: str, interval: int = 10) -> None:
        self.folder = Path(folder)
        self.interval = interval
        self.rows: list[dict[str, str]] = []

    @property
    def csv_path(self) -> Path:
        return self.folder / "loss.csv"

    def fit_start(self, state: State, logger: Logger) -> None:
        step = int(state.timestamp.batch)
        self.rows = []
        if dist.get_global_rank() == 0 and self.csv_path.is_file():
            with open(self.csv_path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]

    def batch_end(self, state: State, logger: Logger) -> None:
        self._add(state, "train", _scalar(state.loss))
        if int(state.timestamp.batch) % self.interval == 0:
            self._write()

    def eval_end(self, state: State, logger: Logger) -> None:
        for metrics in state.eval_metrics.values():
            for name, metric in metrics.items():
                if "CrossEntropy" in name:
                    self._add(state, "eval", float(metric.compute()))

    def fit_end(self, state: State, logger: Logger) -> None:
        self._write()

    def _add(self, state: State, split: str, loss: float) -> None:
        self.rows.append(
            {
                "step": str(int(state.timestamp.batch)),
                "tokens": str(int(state.timestamp.token)),
                "split": split,
                "loss": f"{loss:.6f}",
            }
        )

    def _write(self) -> None:
        if dist.get_global_rank() != 0 or not self.rows:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.csv_path.with_name(".loss.csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.csv_path)
        self._plot()

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for split, style in (("train", "-"), ("eval", "o-")):
            points = [(int(r["step"]), float(r["loss"])) for r in self.rows if r["split"] == split]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=f"{split} loss", markersize=4)
        ax.set_xlabel("batch")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.set_title(self.folder.name)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        tmp = self.folder / ".loss.png.tmp.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, self.folder / "loss.png")
