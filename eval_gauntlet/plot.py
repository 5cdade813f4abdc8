"""``results.png``: a panel per in-context task and group, and per fine-tuned (task, metric),
against tokens seen (or step), redrawn from the whole ``results.jsonl``.

An in-context panel draws accuracy (left axis) and the gold text's bits per byte (right axis),
each with its 95% interval, and the random and majority baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_prep.files import atomic_write
from eval_gauntlet.rows import FINETUNE, latest_rows
from eval_gauntlet.tasks import LM_EVAL, MARK

_METRICS = (  # value, interval, line style, legend, which y axis
    ("acc", "ci95", "-", "acc", "left"),
    ("gold_text_bpb", "gold_text_bpb_ci95", "--", "gold text bits/byte", "right"),
)


def _x_axis(rows: list[dict[str, Any]]) -> tuple[str, dict[str, float]]:
    """Tokens seen when every checkpoint knows them, else step, else checkpoint order."""
    names = list(dict.fromkeys(row["checkpoint"] for row in rows))
    for field_name, label in (("tokens", "tokens seen"), ("step", "step")):
        values = {row["checkpoint"]: row.get(field_name) for row in rows}
        if all(values[name] is not None for name in names):
            return label, {name: float(v) for name, v in values.items() if v is not None}
    return "checkpoint", {name: float(i) for i, name in enumerate(names)}


def _series(
    mine: list[dict[str, Any]], xs: dict[str, float], shots: Any, value: str, interval: str
) -> list[list[float]]:
    """x, y, low, high of one metric of one shot count, sorted by x (rows lacking it skipped)."""
    points = sorted(
        (xs[r["checkpoint"]], r[value], *(r.get(interval) or (r[value], r[value])))
        for r in mine
        if r.get("shots") == shots
        and isinstance(r.get(value), int | float)
        and r[value] == r[value]
    )
    return [list(column) for column in zip(*points, strict=True)] or [[], [], [], []]


def _draw_task(ax: Any, name: str, mine: list[dict[str, Any]], xs: dict[str, float]) -> None:
    """Accuracy on ``ax`` and bits per byte on a twin right axis, a color per shot count."""
    sides: dict[str, Any] = {"left": ax}
    handles = []
    for index, shots in enumerate(dict.fromkeys(row.get("shots") for row in mine)):
        color = f"C{index}"
        for value, interval, style, what, side in _METRICS:
            x, y, low, high = _series(mine, xs, shots, value, interval)
            if not x:
                continue
            if side not in sides:
                sides[side] = ax.twinx()
                sides[side].set_ylabel("gold text bits/byte, lower is better (95% CI)", fontsize=8)
            label = f"{shots}-shot {what}"
            handles += sides[side].plot(x, y, style, color=color, marker="o", label=label)
            sides[side].fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
    last = mine[-1]
    for baseline, style in (("random", "--"), ("majority", ":")):
        if (level := last.get(f"{baseline}_baseline")) is not None:
            handles.append(ax.axhline(level, color="gray", linestyle=style, label=baseline))
    marked = last.get("protocol", LM_EVAL) != LM_EVAL
    ax.set_title(name + (f" {MARK}" if marked else ""), fontsize=10)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_ylim(0.0, 1.0)
    ax.legend(handles=handles, fontsize=6)


def draw_finetune_panel(
    ax: Any, title: str, rows: Sequence[dict[str, Any]], xs: dict[str, float], label: str
) -> None:
    """One fine-tuned metric against tokens seen (or step), a line per split, 95% CI shaded."""
    for index, split in enumerate(dict.fromkeys(r.get("split") for r in rows)):
        points = sorted(
            (xs[r["checkpoint"]], r["value"], *(r.get("ci95") or [None, None]))
            for r in rows
            if r.get("split") == split and isinstance(r.get("value"), int | float)
        )
        if not points:
            continue
        x, y, low, high = (list(c) for c in zip(*points, strict=True))
        ax.plot(x, y, "-", color=f"C{index}", marker="o", label=str(split))
        if None not in low and None not in high:
            ax.fill_between(x, low, high, color=f"C{index}", alpha=0.15, linewidth=0)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(label)
    ax.set_ylabel(f"{rows[-1]['metric']} (95% CI)")
    scale = rows[-1].get("scale")  # ROUGE, BLEU: 100; acc: 1; lengths in words: fit to the data
    top = 1.0 if rows[-1].get("metric") == "acc" else None
    ax.set_ylim(0.0, float(scale) if isinstance(scale, int | float) else top)
    ax.legend(fontsize=6)


def plot_results(rows: list[dict[str, Any]], path: Path) -> None:
    """Draw ``rows``' tasks, groups and fine-tuned metrics into ``path`` (a PNG, atomically)."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state; imported only to plot

    rows = [
        row
        for row in latest_rows(rows)
        if row.get("kind") in ("task", "group", FINETUNE) and "checkpoint" in row and "task" in row
    ]
    if not rows:
        return
    label, xs = _x_axis(rows)
    panels: dict[str, list[dict[str, Any]]] = {}  # fine-tuned rows: a panel per (task, metric)
    for row in rows:
        if row["kind"] == FINETUNE:
            panels.setdefault(f"{row['task']} {row['metric']} (fine-tuned)", []).append(row)
    rows = [row for row in rows if row["kind"] != FINETUNE]
    names = [*dict.fromkeys(row["task"] for row in rows), *panels]
    cols = min(3, len(names))
    nrows = -(-len(names) // cols)
    fig = Figure(figsize=(4.6 * cols, 3.2 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        if name in panels:
            draw_finetune_panel(ax, name, panels[name], xs, label)
        else:
            _draw_task(ax, name, [row for row in rows if row["task"] == name], xs)
            ax.set_xlabel(label)
        if label == "checkpoint":
            ax.set_xticks(list(xs.values()), list(xs), rotation=30, fontsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
