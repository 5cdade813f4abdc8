"""Scores of a task (acc, acc_norm, bootstrap CI, baselines) and the gauntlet aggregation.

The aggregation is llm-foundry's ``EvalGauntlet`` (``llmfoundry/callbacks/
eval_gauntlet_callback.py``) with its defaults: each benchmark, a (task, shots) pair, scores
``(acc - random_baseline) / (1 - random_baseline)``; a category is the mean of its benchmarks
(EQUAL weighting) and is dropped when one of them is missing; the average is the mean of the
categories present. The tests check it against llm-foundry's callback itself.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eval_gauntlet.scoring import Prediction
from eval_gauntlet.tasks import AVERAGE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Score:
    """Accuracy of one task (or group) at one shot count."""

    n: int
    acc: float
    acc_norm: float
    ci_low: float  # bootstrap 95% interval of acc
    ci_high: float
    majority_baseline: float  # accuracy of always answering the most frequent gold choice
    truncated: int  # items whose prompt lost tokens on the left


def bootstrap_ci(
    correct: Sequence[bool] | np.ndarray, *, seed: int, iters: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``correct`` (items resampled, seeded)."""
    values = np.asarray(correct, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(iters, len(values)))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def majority_baseline(golds: Sequence[int]) -> float:
    """Accuracy of always answering the most common gold choice index."""
    return Counter(golds).most_common(1)[0][1] / len(golds)


def summarize(predictions: Sequence[Prediction], *, seed: int, iters: int = 1000) -> Score:
    """acc, acc_norm and the bootstrap interval over ``predictions``."""
    correct = np.array([p.correct for p in predictions], dtype=np.float64)
    low, high = bootstrap_ci(correct, seed=seed, iters=iters)
    return Score(
        n=len(predictions),
        acc=float(correct.mean()),
        acc_norm=float(np.mean([p.correct_norm for p in predictions])),
        ci_low=low,
        ci_high=high,
        majority_baseline=majority_baseline([p.gold for p in predictions]),
        truncated=sum(1 for p in predictions if p.truncated),
    )


@dataclass(frozen=True)
class Benchmark:
    """One (task, shots) pair of a gauntlet category."""

    task: str
    shots: int
    category: str
    random_baseline: float


def rescaled(acc: float, random_baseline: float) -> float:
    """Accuracy above chance, as a fraction of the room above chance (1.0 = perfect)."""
    return (acc - random_baseline) / (1.0 - random_baseline)


def gauntlet_scores(
    accuracies: dict[tuple[str, int], float], benchmarks: Sequence[Benchmark]
) -> dict[str, float]:
    """Category scores and their ``average`` from (task, shots) accuracies, as llm-foundry."""
    members: dict[str, list[Benchmark]] = {}
    for bench in benchmarks:
        members.setdefault(bench.category, []).append(bench)
    scores: dict[str, float] = {}
    for category, benches in members.items():
        missing = [
            f"{b.task}/{b.shots}-shot" for b in benches if (b.task, b.shots) not in accuracies
        ]
        if missing:
            log.info("category %s left out: not scored: %s", category, ", ".join(missing))
            continue
        parts = [rescaled(accuracies[b.task, b.shots], b.random_baseline) for b in benches]
        scores[category] = sum(parts) / len(parts)
    if scores:
        scores[AVERAGE] = sum(scores.values()) / len(scores)
    return scores
