"""Results on disk: append-only ``results.jsonl``, a Markdown table, a plot, predictions.

``results.jsonl`` gains whole lines only, one per scored benchmark as soon as it is scored,
then the groups and gauntlet scores; every other file is written to a temporary name and
renamed, so no reader ever sees half a file. The table and plot are redrawn from the whole
``results.jsonl``, so they show every checkpoint scored into the folder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.evaluate import GauntletResult, GroupResult, TaskResult
from eval_gauntlet.metrics import Score
from eval_gauntlet.tasks import AVERAGE

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
    """Append ``rows`` to a JSONL file as whole lines, in one write."""
    text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a ``results.jsonl``."""
    rows = []
    with path.open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
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


def make_row(checkpoint: Checkpoint, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    """A results.jsonl row: when, which checkpoint (step, tokens seen), what kind, which task."""
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
    return make_row(
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
    return make_row(
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
        rows.append(make_row(checkpoint, kind, name, shots=None, score=score))
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
    """The last row for each (checkpoint, kind, task, shots, split, metric), in first-appearance order."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:  # re-assigning a key keeps its first position
        key = ("checkpoint", "kind", "task", "shots", "split", "metric")
        latest[tuple(row.get(k) for k in key)] = row
    return list(latest.values())


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def render_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per checkpoint, a table of tasks and groups, the gauntlet and fine-tuned scores."""
    from eval_gauntlet.finetuned.rows import table_section as finetune_section

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
        if any(row["kind"] in ("task", "group") for row in mine):
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
        out += finetune_section(mine)  # kind: finetune rows (eval_gauntlet.finetuned)
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


def _panels(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows per plot panel: each in-context task or group, each fine-tuned (task, metric)."""
    panels: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["kind"] in ("task", "group"):
            panels.setdefault(row["task"], []).append(
                {**row, "y": row["acc"], "series": f"{row['shots']}-shot"}
            )
        elif row["kind"] == "finetune":
            title = f"{row['task']} {row['metric']} (fine-tuned)"
            panels.setdefault(title, []).append({**row, "y": row["value"], "series": row["split"]})
    return panels


def plot_results(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per task, group and fine-tuned metric: score against tokens seen (or step)."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state; imported only to plot

    rows = [row for row in _latest(rows) if row["kind"] in ("task", "group", "finetune")]
    if not rows:
        return
    label, xs = _x_axis(rows)
    panels = _panels(rows)
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, (name, mine) in zip(axes.flat, panels.items(), strict=False):
        for series in dict.fromkeys(r["series"] for r in mine):
            points = sorted((xs[r["checkpoint"]], r["y"]) for r in mine if r["series"] == series)
            ax.plot(*zip(*points, strict=True), marker="o", label=series)
        if "random_baseline" in mine[-1]:
            ax.axhline(mine[-1]["random_baseline"], color="gray", linestyle="--", label="random")
            ax.axhline(mine[-1]["majority_baseline"], color="gray", linestyle=":", label="majority")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(label)
        ax.set_ylabel(mine[-1].get("metric") or "accuracy")
        ax.set_ylim(0.0, 1.0)
        if label == "checkpoint":
            ax.set_xticks(list(xs.values()), list(xs), rotation=30, fontsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
