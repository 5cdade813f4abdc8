"""``kind: finetune`` rows of ``results.jsonl``: one per (task, split, metric) of a checkpoint.

A row carries the metric's value with its bootstrap 95% interval, the number of examples, the
task family (``multiple_choice``, ``classification``, ``generation``) and the run it came from;
the table shows them in a "fine-tuned" section per checkpoint and the plot gives each
(task, metric) a panel beside the in-context tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval_gauntlet.results import (
    PLOT,
    RESULTS,
    TABLE,
    Checkpoint,
    append_rows,
    make_row,
    plot_results,
    read_rows,
    write_table,
)

KIND = "finetune"


@dataclass(frozen=True)
class MetricValue:
    """One metric of a fine-tuned model on one split, with its bootstrap 95% interval."""

    name: str  # acc, rouge1, rouge2, rougeL, ...
    value: float
    ci_low: float | None = None
    ci_high: float | None = None


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
        make_row(
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
    for row in mine:
        low, high = row.get("ci95") or [None, None]
        interval = f"{_fmt(low)}–{_fmt(high)}" if low is not None else ""
        out.append(
            f"| {row['task']} | {row.get('family', '')} | {row.get('split', '')} | "
            f"{row['metric']} | {row.get('n', '')} | {_fmt(row['value'])} | {interval} |"
        )
    return out
