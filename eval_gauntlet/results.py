"""Results on disk: append-only ``results.jsonl``, a Markdown table, a plot, predictions.

``results.jsonl`` gains whole lines only, one per scored benchmark as soon as it is scored,
then the groups and gauntlet scores; every other file is written to a temporary name and
renamed, so no reader ever sees half a file. The table and plot are redrawn from the whole
``results.jsonl``, so they show every checkpoint scored into the folder.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.evaluate import GauntletResult, GroupResult, TaskResult
from eval_gauntlet.metrics import Score
from eval_gauntlet.tasks import AVERAGE

log = logging.getLogger(__name__)
RESULTS = "results.jsonl"
TABLE = "results.md"
PLOT = "results.png"
PREDICTIONS = "predictions"


@dataclass(frozen=True)
class Checkpoint:
    """Which model the results are for; step and tokens when the caller knows them."""

    name: str
    step: int | None = None
    tokens: int | None = None


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def append_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append ``rows`` to a JSONL file as whole lines, in one write.

    Under an exclusive ``flock`` of the file, so appenders in other processes take turns; a
    partial last line left by an interrupted writer is repaired first (:func:`repair_rows`).
    """
    data = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as out:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        _repair_tail(path, out)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def repair_rows(path: Path) -> None:
    """Drop a partial last line of a JSONL file (a writer killed mid-line), with one log line."""
    if path.is_file():
        append_rows(path, [])


def _repair_tail(path: Path, out: BinaryIO) -> None:
    """Make ``out`` end with a newline: a cut-off last line is truncated, a whole one ended."""
    size = out.seek(0, os.SEEK_END)
    if size == 0 or (out.seek(size - 1) >= 0 and out.read(1) == b"\n"):
        return
    start = size  # back to just after the last newline (0 when there is none)
    while start > 0:
        step = min(start, 65536)
        out.seek(start - step)
        newline = out.read(step).rfind(b"\n")
        start -= step
        if newline >= 0:
            start += newline + 1
            break
    out.seek(start)
    tail = out.read()
    try:
        json.loads(tail)
    except ValueError:
        os.ftruncate(out.fileno(), start)
        log.warning(
            "%s: dropped a partial last line (%d bytes, an interrupted write)", path, len(tail)
        )
    else:  # a whole row whose newline was not written
        out.write(b"\n")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a ``results.jsonl``; a partial last line (an interrupted write) is ignored.

    A malformed line anywhere else is an error naming the line.
    """
    rows = []
    with path.open(encoding="utf-8", errors="surrogateescape") as lines:
        for line_no, line in enumerate(lines, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):  # the last line, cut off: the next append drops it
                    log.warning(
                        "%s:%d: ignoring a partial last line (an interrupted write)", path, line_no
                    )
                    break
                raise GauntletError(f"{path}:{line_no}: invalid JSON ({exc.msg})") from None
    return rows


def _score_fields(score: Score) -> dict[str, Any]:
    return {
        "acc": score.acc,
        "acc_norm": score.acc_norm,
        "ci95": [score.ci_low, score.ci_high],
        "n": score.n,
        "majority_baseline": score.majority_baseline,
        "truncated": score.truncated,
    }


def _row(checkpoint: Checkpoint, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": checkpoint.name,
        "step": checkpoint.step,
        "tokens": checkpoint.tokens,
        "kind": kind,
        "task": name,
        **fields,
    }


def task_row(checkpoint: Checkpoint, result: TaskResult) -> dict[str, Any]:
    """The results.jsonl line of one scored benchmark."""
    return _row(
        checkpoint,
        "task",
        result.task.name,
        shots=result.shots,
        seconds=round(result.seconds, 3),
        random_baseline=result.task.random_baseline,
        category=result.task.category,
        **_score_fields(result.score),
    )


def group_row(checkpoint: Checkpoint, group: GroupResult) -> dict[str, Any]:
    """The results.jsonl line of a group scored over all its members' items."""
    return _row(
        checkpoint,
        "group",
        group.name,
        shots=group.shots,
        seconds=round(group.seconds, 3),
        random_baseline=group.random_baseline,
        members=group.members,
        **_score_fields(group.score),
    )


def gauntlet_rows(checkpoint: Checkpoint, result: GauntletResult) -> list[dict[str, Any]]:
    """results.jsonl lines of the group scores and the gauntlet's category and average scores."""
    rows = [group_row(checkpoint, group) for group in result.groups]
    for name, score in result.gauntlet.items():
        kind = "average" if name == AVERAGE else "category"
        rows.append(_row(checkpoint, kind, name, shots=None, score=score))
    return rows


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


def write_predictions(out_dir: Path, checkpoint: Checkpoint, result: TaskResult) -> Path:
    """Per-example predictions of one benchmark, for audit: one JSON line per item."""
    path = (
        out_dir
        / PREDICTIONS
        / _safe(checkpoint.name)
        / f"{result.task.name}.{result.shots}shot.jsonl"
    )
    lines = [
        json.dumps(
            {
                "task": result.task.name,
                "shots": result.shots,
                "key": p.key,
                "source": p.source,
                "choices": p.choices,
                "gold": p.gold,
                "pred": p.pred,
                "pred_norm": p.pred_norm,
                "correct": p.correct,
                "correct_norm": p.correct_norm,
                "logprobs": p.logprobs,
                "truncated_tokens": p.truncated,
                "fewshot_keys": p.fewshot_keys,
            }
        )
        + "\n"
        for p in result.predictions
    ]
    atomic_write(path, lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))
    return path


class Recorder:
    """Writes one evaluation into ``out_dir`` as it goes; ``finish`` adds the summaries."""

    def __init__(self, out_dir: str | Path, checkpoint: Checkpoint) -> None:
        self.out_dir = Path(out_dir)
        self.checkpoint = checkpoint

    def add(self, result: TaskResult) -> None:
        """Record one scored benchmark (predictions first, then its results line)."""
        write_predictions(self.out_dir, self.checkpoint, result)
        append_rows(self.out_dir / RESULTS, [task_row(self.checkpoint, result)])

    def finish(self, result: GauntletResult) -> None:
        """Record the group and gauntlet scores and redraw the table and the plot."""
        append_rows(self.out_dir / RESULTS, gauntlet_rows(self.checkpoint, result))
        rows = read_rows(self.out_dir / RESULTS)
        write_table(rows, self.out_dir / TABLE)
        plot_results(rows, self.out_dir / PLOT)


def _latest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row for each (checkpoint, kind, task, shots), in first-appearance order."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:  # re-assigning a key keeps its first position
        latest[row.get("checkpoint"), row.get("kind"), row.get("task"), row.get("shots")] = row
    return list(latest.values())


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def render_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per checkpoint, a table of tasks and groups, then the gauntlet scores."""
    rows = _latest(rows)
    out = ["# Eval gauntlet results", ""]
    for name in dict.fromkeys(row["checkpoint"] for row in rows):
        mine = [row for row in rows if row["checkpoint"] == name]
        first = mine[0]
        out += [
            f"## {name} (step {_fmt(first.get('step'), 'd') or '?'}, "
            f"tokens {_fmt(first.get('tokens'), ',d') or '?'})",
            "",
        ]
        out += ["| task | shots | n | acc | 95% CI | acc_norm | random | majority | truncated | s |",
                "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for row in mine:
            if row["kind"] not in ("task", "group"):
                continue
            low, high = row["ci95"]
            label = f"**{row['task']}** (all)" if row["kind"] == "group" else row["task"]
            out.append(
                f"| {label} | {row['shots']} | {row['n']} | {_fmt(row['acc'])} | "
                f"{_fmt(low)}–{_fmt(high)} | {_fmt(row['acc_norm'])} | "
                f"{_fmt(row['random_baseline'])} | {_fmt(row['majority_baseline'])} | "
                f"{row['truncated']} | {_fmt(row['seconds'], '.1f')} |"
            )
        gauntlet = [row for row in mine if row["kind"] in ("category", "average")]
        if gauntlet:
            out += ["", "| gauntlet (acc above chance, rescaled) | score |", "|---|---:|"]
            out += [f"| {row['task']} | {_fmt(row['score'])} |" for row in gauntlet]
        out.append("")
    return "\n".join(out)


def write_table(rows: list[dict[str, Any]], path: Path) -> None:
    """Write the Markdown table of ``rows`` to ``path`` (atomically)."""
    text = render_table(rows)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _x_axis(rows: list[dict[str, Any]]) -> tuple[str, dict[str, float]]:
    """Tokens seen when every checkpoint knows them, else step, else checkpoint order."""
    names = list(dict.fromkeys(row["checkpoint"] for row in rows))
    for field_name, label in (("tokens", "tokens seen"), ("step", "step")):
        values = {row["checkpoint"]: row.get(field_name) for row in rows}
        if all(values[name] is not None for name in names):
            return label, {name: float(v) for name, v in values.items() if v is not None}
    return "checkpoint", {name: float(i) for i, name in enumerate(names)}


def plot_results(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per task and group: accuracy against tokens seen (or step), with baselines."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state; imported only to plot

    rows = [row for row in _latest(rows) if row["kind"] in ("task", "group")]
    if not rows:
        return
    label, xs = _x_axis(rows)
    names = list(dict.fromkeys(row["task"] for row in rows))
    cols = min(3, len(names))
    nrows = -(-len(names) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        mine = [row for row in rows if row["task"] == name]
        for shots in sorted({row["shots"] for row in mine}):
            points = sorted((xs[r["checkpoint"]], r["acc"]) for r in mine if r["shots"] == shots)
            ax.plot(*zip(*points, strict=True), marker="o", label=f"{shots}-shot")
        ax.axhline(mine[-1]["random_baseline"], color="gray", linestyle="--", label="random")
        ax.axhline(mine[-1]["majority_baseline"], color="gray", linestyle=":", label="majority")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy")
        ax.set_ylim(0.0, 1.0)
        if label == "checkpoint":
            ax.set_xticks(list(xs.values()), list(xs), rotation=30, fontsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
