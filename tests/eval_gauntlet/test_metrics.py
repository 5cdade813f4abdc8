"""Task metrics and the gauntlet aggregation, checked against llm-foundry's EvalGauntlet."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from eval_gauntlet.metrics import (
    Benchmark,
    bootstrap_ci,
    gauntlet_scores,
    majority_baseline,
    rescaled,
    summarize,
)
from eval_gauntlet.scoring import Prediction

BENCHMARKS = [
    Benchmark("medqa_4options", 0, "clinical_reasoning", 0.25),
    Benchmark("medqa_4options", 3, "clinical_reasoning", 0.25),
    Benchmark("pubmedqa", 0, "biomedical_literature", 1 / 3),
    Benchmark("mmlu_anatomy", 0, "medical_knowledge", 0.25),
    Benchmark("mmlu_medical_genetics", 0, "medical_knowledge", 0.25),
]
ACCURACIES = {
    ("medqa_4options", 0): 0.31,
    ("medqa_4options", 3): 0.40,
    ("pubmedqa", 0): 0.55,
    ("mmlu_anatomy", 0): 0.20,
    ("mmlu_medical_genetics", 0): 0.61,
}


def llm_foundry_gauntlet(accuracies: dict[tuple[str, int], float]) -> dict[str, float]:
    """llm-foundry's EvalGauntlet callback on the same numbers (a stand-in Composer state)."""
    from llmfoundry.callbacks.eval_gauntlet_callback import EvalGauntlet

    categories: dict[str, list[dict]] = {}
    for b in BENCHMARKS:
        categories.setdefault(b.category, []).append(
            {"name": b.task, "num_fewshot": b.shots, "random_baseline": b.random_baseline}
        )
    metric = "InContextLearningMultipleChoiceAccuracy"
    keys = [f"metrics/{task}/{shots}-shot/{metric}" for task, shots in accuracies]
    state = SimpleNamespace(
        eval_metrics={
            f"{task}/{shots}-shot": {
                metric: SimpleNamespace(compute=lambda acc=acc: torch.tensor(acc))
            }
            for (task, shots), acc in accuracies.items()
        }
    )
    gauntlet = EvalGauntlet(
        logger_keys=keys,
        categories=[{"name": name, "benchmarks": benches} for name, benches in categories.items()],
        benchmark_sizes={},  # unused with EQUAL weighting, but its check compares str to enum
    )
    scores = gauntlet.eval_after_all(state, None)  # type: ignore[arg-type]
    prefix = "icl/metrics/eval_gauntlet/"
    return {
        key.removeprefix(prefix).replace("default_average", "average"): v
        for key, v in scores.items()
    }


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")
def test_aggregation_equals_llm_foundry() -> None:
    ours = gauntlet_scores(ACCURACIES, BENCHMARKS)
    theirs = llm_foundry_gauntlet(ACCURACIES)
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        assert value == pytest.approx(theirs[key], rel=1e-6)
    knowledge = (rescaled(0.20, 0.25) + rescaled(0.61, 0.25)) / 2
    assert ours["medical_knowledge"] == pytest.approx((-0.05 / 0.75 + 0.36 / 0.75) / 2)
    assert ours["medical_knowledge"] == pytest.approx(knowledge)


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")
def test_category_with_a_missing_benchmark_is_left_out_as_in_llm_foundry() -> None:
    partial = {key: acc for key, acc in ACCURACIES.items() if key != ("medqa_4options", 3)}
    ours = gauntlet_scores(partial, BENCHMARKS)
    assert "clinical_reasoning" not in ours
    assert ours["average"] == pytest.approx(
        (ours["biomedical_literature"] + ours["medical_knowledge"]) / 2
    )
    theirs = llm_foundry_gauntlet(partial)
    assert ours == pytest.approx(theirs)
    assert gauntlet_scores({}, BENCHMARKS) == {}


def test_rescaled_endpoints() -> None:
    assert rescaled(0.25, 0.25) == 0.0
    assert rescaled(1.0, 1 / 3) == pytest.approx(1.0)
    assert rescaled(0.0, 0.25) == pytest.approx(-1 / 3)


def test_bootstrap_ci_is_seeded_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(0)
    correct = rng.random(400) < 0.3
    low, high = bootstrap_ci(correct, seed=7)
    assert (low, high) == bootstrap_ci(correct, seed=7)
    assert (low, high) != bootstrap_ci(correct, seed=8)
    assert low < correct.mean() < high
    # ~ normal approximation: 1.96 * sqrt(p (1 - p) / n)
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(0.3 * 0.7 / 400), rel=0.2)
    narrow = bootstrap_ci(np.tile(correct, 4), seed=7)
    assert narrow[1] - narrow[0] < high - low
    assert bootstrap_ci([True] * 10, seed=0) == (1.0, 1.0)


def test_summarize_and_majority_baseline() -> None:
    def pred(gold: int, pred: int, pred_norm: int) -> Prediction:
        return Prediction("k", "f:1", ["A", "B", "C"], gold, [0.0] * 3, pred, pred_norm, 0)

    predictions = [pred(0, 0, 1), pred(0, 1, 0), pred(2, 2, 2), pred(0, 0, 0)]
    score = summarize(predictions, seed=0)
    assert (score.n, score.acc, score.acc_norm) == (4, 0.75, 0.75)
    assert score.majority_baseline == majority_baseline([0, 0, 2, 0]) == 0.75
    assert score.ci_low <= 0.75 <= score.ci_high
