"""Scores of a task (acc, acc_norm, gold probability, gold text bits per byte, bootstrap CIs), and
the gauntlet aggregation.

The aggregation is llm-foundry's ``EvalGauntlet`` with its defaults (the tests check it against
the callback itself): each (task, shots) benchmark rescaled above chance, a group (MMLU's
subjects) one benchmark with its members' mean accuracy, a category the mean of its benchmarks,
dropped when one is missing, the average the mean of the categories present.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
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
    acc_norm: float | None  # None where lm-eval's task defines no acc_norm
    ci_low: float  # bootstrap 95% interval of acc
    ci_high: float
    majority_baseline: float  # accuracy of always answering the most frequent gold choice
    truncated: int  # items whose prompt lost tokens on the left
    gold_prob: float = float("nan")  # mean probability on the gold choice (choices renormalised)
    gold_prob_ci: tuple[float, float] = (float("nan"), float("nan"))
    chance_prob: float = float("nan")  # gold_prob of a model with no preference: mean 1/choices
    gold_text_bpb: float = float("nan")  # bits per byte of the gold answers' text (lower: better)
    gold_text_bpb_ci: tuple[float, float] = (float("nan"), float("nan"))


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    iters: int = 1000,
    per: Sequence[float] | np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``values`` (items resampled, seeded); with
    ``per``, of ``sum(values) / sum(per)`` (bits per byte, pooled as lm-eval's ``bits_per_byte``).
    """
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(iters, len(values)))
    if per is None:
        means = values[picks].mean(axis=1)
    else:
        means = values[picks].sum(axis=1) / np.asarray(per, dtype=np.float64)[picks].sum(axis=1)
    tail = (1.0 - 0.95) / 2.0  # not 0.025: the float that earlier results were computed with
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def majority_baseline(golds: Sequence[int]) -> float:
    """Accuracy of always answering the most common gold choice index."""
    return Counter(golds).most_common(1)[0][1] / len(golds)


def summarize(
    predictions: Sequence[Prediction], *, seed: int, iters: int = 1000, acc_norm: bool = True
) -> Score:
    """acc, acc_norm (if ``acc_norm``), gold probability and pooled gold text bits per byte (NaN
    when a byte count is unknown), with their intervals.
    """
    correct = np.array([p.correct for p in predictions], dtype=np.float64)
    gold_prob = np.array([p.gold_prob for p in predictions], dtype=np.float64)
    gold_bits = np.array([-p.gold_text_logprob / np.log(2) for p in predictions])
    gold_bytes = np.array([p.gold_text_bytes for p in predictions], dtype=np.float64)
    bpb, bpb_ci = float("nan"), (float("nan"), float("nan"))
    if (gold_bytes > 0).all():
        bpb = float(gold_bits.sum() / gold_bytes.sum())
        bpb_ci = bootstrap_ci(gold_bits, seed=seed, iters=iters, per=gold_bytes)
    low, high = bootstrap_ci(correct, seed=seed, iters=iters)
    return Score(
        n=len(predictions),
        acc=float(correct.mean()),
        acc_norm=float(np.mean([p.correct_norm for p in predictions])) if acc_norm else None,
        ci_low=low,
        ci_high=high,
        majority_baseline=majority_baseline([p.gold for p in predictions]),
        truncated=sum(1 for p in predictions if p.truncated),
        gold_prob=float(gold_prob.mean()),
        gold_prob_ci=bootstrap_ci(gold_prob, seed=seed, iters=iters),
        chance_prob=float(np.mean([1.0 / len(p.choices) for p in predictions])),
        gold_text_bpb=bpb,
        gold_text_bpb_ci=bpb_ci,
    )


@dataclass(frozen=True)
class Benchmark:
    """One (task, shots) pair of a gauntlet category; a group's ``members`` are averaged."""

    task: str
    shots: int
    category: str
    random_baseline: float
    members: tuple[str, ...] = ()  # a group: its accuracy is the mean of these tasks'

    def accuracy(self, accuracies: dict[tuple[str, int], float]) -> float | None:
        """This benchmark's accuracy, or None when a part of it was not scored."""
        parts = [accuracies.get((task, self.shots)) for task in self.members or (self.task,)]
        if any(part is None for part in parts):
            return None
        return sum(part for part in parts if part is not None) / len(parts)


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
        accs = [(bench, bench.accuracy(accuracies)) for bench in benches]
        missing = [f"{b.task}/{b.shots}-shot" for b, acc in accs if acc is None]
        if missing:
            log.info("category %s left out: not scored: %s", category, ", ".join(missing))
            continue
        parts = [rescaled(acc, b.random_baseline) for b, acc in accs if acc is not None]
        scores[category] = sum(parts) / len(parts)
    if scores:
        scores[AVERAGE] = sum(scores.values()) / len(scores)
    return scores


def completes_a_category(
    scored: Iterable[tuple[str, int]], benchmarks: Sequence[Benchmark]
) -> bool:
    """Whether scores of the ``scored`` (task, shots) pairs complete a category, so that
    :func:`gauntlet_scores` gives an average (known before any model is scored)."""
    present = dict.fromkeys(scored, 0.0)
    complete: dict[str, bool] = {}
    for bench in benchmarks:
        whole = bench.accuracy(present) is not None
        complete[bench.category] = complete.get(bench.category, True) and whole
    return any(complete.values())
