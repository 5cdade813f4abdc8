"""``loss_curve``: the run's loss curve as CSV and PNG in the run folder, one across restarts.

A batch's loss is Composer's ``loss/train/total`` (mean over micro-batches and ranks, what the
loggers receive; ``state.loss`` is rank 0's last micro-batch). Rows are appended as they come,
so a crash loses nothing; a resume drops the rows past its batch. Only rank 0 writes.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import torch
from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import dist

from data_prep.files import atomic_write, write_text_atomic

log = logging.getLogger(__name__)
FIELDS = ("step", "tokens", "split", "loss")
TOTAL = "loss/train/total"


def _scalar(loss: object) -> float:
    """Composer's ``state.loss`` (a tensor, a sequence of them, or a dict with ``total``)."""
    if isinstance(loss, dict):
        loss = loss.get("total", next(iter(loss.values())))
    if isinstance(loss, (list, tuple)):
        return sum(_scalar(part) for part in loss)
    if isinstance(loss, torch.Tensor):
        return float(loss.detach().float().mean())
    return float(loss)  # type: ignore[arg-type]


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of ``loss.csv``; a last line cut off by a crash is left out."""
    if not path.is_file():
        return []
    rows = csv.DictReader(io.StringIO(path.read_text()))
    return [row for row in rows if all(row.get(f) not in (None, "") for f in FIELDS)]


class LossCurve(Callback):
    """Append train/eval loss per batch to ``loss.csv``; draw ``loss.png`` every ``interval``."""

    def __init__(self, folder: str, interval: int = 10) -> None:
        self.validate(folder, interval)
        self.folder = Path(folder)
        self.interval = interval

    @classmethod
    def validate(cls, folder: str, interval: int = 10) -> None:
        """The arguments' values, checked as the recipe loads (:mod:`biomedlm.components`)."""
        if interval < 1:
            raise ValueError(
                f"loss_curve.interval: must be >= 1 (batches between plots), got {interval}"
            )

    @property
    def csv_path(self) -> Path:
        return self.folder / "loss.csv"

    def fit_start(self, state: State, logger: Logger) -> None:
        if dist.get_global_rank() != 0:
            return
        step = int(state.timestamp.batch)
        rows = read_rows(self.csv_path)
        kept = [r for r in rows if int(r["step"]) <= step]
        if len(kept) != len(rows) or not self.csv_path.is_file():
            self._rewrite(kept)  # rows past the restored batch are computed again
            if len(kept) != len(rows):
                log.info("loss curve: dropped %d rows past batch %d", len(rows) - len(kept), step)

    def batch_end(self, state: State, logger: Logger) -> None:
        total = getattr(state, "total_loss_dict", None) or {}  # over micro-batches and ranks
        self._append(state, "train", float(total[TOTAL]) if TOTAL in total else _scalar(state.loss))
        if int(state.timestamp.batch) % self.interval == 0:
            self._plot()

    def eval_end(self, state: State, logger: Logger) -> None:
        for metrics in state.eval_metrics.values():
            for name, metric in metrics.items():
                if "CrossEntropy" in name:
                    self._append(state, "eval", float(metric.compute()))

    def fit_end(self, state: State, logger: Logger) -> None:
        self._plot()

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.csv_path, text.getvalue())

    def _append(self, state: State, split: str, loss: float) -> None:
        if dist.get_global_rank() != 0:
            return
        if not self.csv_path.is_file():
            self._rewrite([])
        line = f"{int(state.timestamp.batch)},{int(state.timestamp.token)},{split},{loss:.6f}\n"
        with open(self.csv_path, "a") as f:  # one small write: a line is whole or absent
            f.write(line)

    def _plot(self) -> None:
        if dist.get_global_rank() != 0:
            return
        rows = read_rows(self.csv_path)
        if not rows:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for split, style in (("train", "-"), ("eval", "o-")):
            points = [(int(r["step"]), float(r["loss"])) for r in rows if r["split"] == split]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=f"{split} loss", markersize=4)
        ax.set_xlabel("batch")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.set_title(self.folder.name)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        atomic_write(self.folder / "loss.png", lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
        plt.close(fig)
