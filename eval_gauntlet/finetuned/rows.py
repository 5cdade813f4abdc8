"""``kind: finetune`` rows of ``results.jsonl``: one per (task, split, metric) of a checkpoint.

A row carries the metric's value with its bootstrap 95% interval, the number of examples, the
task family (``multiple_choice``, ``classification``, ``generation``) and the run it came from,
and where it is not a plain 0-1 mean, its ``scale`` (ROUGE and BLEU: 100) and ``aggregation``
(how the corpus value is made); the table shows them in a "fine-tuned" section per checkpoint,
each aggregation a note under it, and the plot gives each (task, metric) a panel beside the
in-context tasks, its axis fitted to the metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval_gauntlet.plot import plot_results
from eval_gauntlet.results import (
    PLOT,
    RESULTS,
    TABLE,
    Checkpoint,
    append_rows,
    read_rows,
    result_row,
    write_table,
)

KIND = "finetune"
NOTE = "‡"  # a metric's aggregation, told under the table
OLD_ROUGE = "0-1, the mean of per-example F (a row written before ROUGE took the scripts' scale)"


@dataclass(frozen=True)
class MetricValue:
    """One metric of a fine-tuned model on one split, with its bootstrap 95% interval."""

    name: str  # acc, rouge1, rouge2, rougeL, ...
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    scale: float | None = None  # the value's full scale where not 0-1 (ROUGE, BLEU: 100)
    aggregation: str | None = None  # how the corpus value is made, where it is not a mean


def finetune_rows(
    checkpoint: Checkpoint,
    *,
    task: str,
    family: str,
    split: str,
    n: int,
    metrics: Sequence[MetricValue],
    run: str | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """The results rows of one scored split: one per metric."""
    return [
        result_row(
            checkpoint,
            KIND,
            task,
            shots=None,
            split=split,
            family=family,
            metric=m.name,
            value=m.value,
            ci95=[m.ci_low, m.ci_high],
            n=n,
            run=run,
            **{key: value for key in ("scale", "aggregation") if (value := getattr(m, key))},
            **extra,
        )
        for m in metrics
    ]


def record(out_dir: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` to ``out_dir/results.jsonl`` and redraw the table and plot."""
    append_rows(out_dir / RESULTS, rows)
    every = read_rows(out_dir / RESULTS)
    write_table(every, out_dir / TABLE)
    plot_results(every, out_dir / PLOT)


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.3f}"


def table_section(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines of a checkpoint's fine-tuned rows (none: no lines)."""
    mine = [row for row in rows if row.get("kind") == KIND]
    if not mine:
        return []
    out = ["", "| fine-tuned task | family | split | metric | n | value | 95% CI |",
           "|---|---|---|---|---:|---:|---|"]  # fmt: skip
    notes: dict[str, int] = {}
    for row in mine:
        low, high = row.get("ci95") or [None, None]
        interval = f"{_fmt(low)}–{_fmt(high)}" if low is not None else ""
        how = row.get("aggregation") or (OLD_ROUGE if row["metric"].startswith("rouge") else None)
        mark = f" {NOTE}{notes.setdefault(how, len(notes) + 1)}" if how else ""
        out.append(
            f"| {row['task']} | {row.get('family', '')} | {row.get('split', '')} | "
            f"{row['metric']}{mark} | {row.get('n', '')} | {_fmt(row['value'])} | {interval} |"
        )
    if notes:
        out += ["", *(f"{NOTE}{number} {how}" for how, number in notes.items())]
    return out


def finetune_panels(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Fine-tuned rows grouped into plot panels, one per (task, metric)."""
    panels: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        panels.setdefault(f"{row['task']} {row['metric']} (fine-tuned)", []).append(row)
    return panels


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
    ax.set_ylim(*y_range(rows))
    ax.legend(fontsize=6)


def y_range(rows: Sequence[dict[str, Any]]) -> tuple[float, float | None]:
    """A panel's y axis: 0 to the metric's scale (acc: 1; ROUGE, BLEU: 100), or to its data
    (lengths in words; None lets matplotlib fit the top)."""
    scale = rows[-1].get("scale")
    if isinstance(scale, int | float):
        return 0.0, float(scale)
    if rows[-1].get("metric") == "acc":
        return 0.0, 1.0
    return 0.0, None
