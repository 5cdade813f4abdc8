"""``kind: finetune`` rows of ``results.jsonl``: one per (task, split, metric) of a checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eval_gauntlet.rows import FINETUNE, Checkpoint, result_row


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
            FINETUNE,
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
