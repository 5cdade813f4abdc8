"""Task metrics and the gauntlet aggregation, checked against llm-foundry's EvalGauntlet."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from eval_gauntlet.evaluate import benchmarks
from eval_gauntlet.metrics import (
    Benchmark,
    bootstrap_ci,
    gauntlet_scores,
    majority_baseline,
    rescaled,
    summarize,
)
from eval_gauntlet.options import Options
from eval_gauntlet.scoring import Prediction
from eval_gauntlet.tasks import load_tasks

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


def llm_foundry_gauntlet(
    accuracies: dict[tuple[str, int], float],
    benchmarks: list[Benchmark] = BENCHMARKS,
    subtasks: dict[str, list[str]] | None = None,
) -> dict[str, float]:
    """llm-foundry's EvalGauntlet callback on the same numbers (a stand-in Composer state).

    ``subtasks``: benchmark -> its categories (llm-foundry's ``has_categories`` tasks, logged
    per category as ``<task>/<shots>-shot/<category>``); their accuracies come from
    ``accuracies`` under the category's name.
    """
    from llmfoundry.callbacks.eval_gauntlet_callback import EvalGauntlet

    subtasks = subtasks or {}
    categories: dict[str, list[dict]] = {}
    for b in benchmarks:
        categories.setdefault(b.category, []).append(
            {"name": b.task, "num_fewshot": b.shots, "random_baseline": b.random_baseline}
        )
    metric = "InContextLearningMultipleChoiceAccuracy"
    logged = {}  # dataloader label -> accuracy
    for b in benchmarks:
        for part in subtasks.get(b.task, [None]):
            acc = accuracies.get((part or b.task, b.shots))
            if acc is not None:
                logged["/".join([b.task, f"{b.shots}-shot", *([part] if part else [])])] = acc
    state = SimpleNamespace(
        eval_metrics={
            label: {metric: SimpleNamespace(compute=lambda acc=acc: torch.tensor(acc))}
            for label, acc in logged.items()
        }
    )
    gauntlet = EvalGauntlet(
        logger_keys=[f"metrics/{label}/{metric}" for label in logged],
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
    # golden, to the last digit, as results already written hold it (np.quantile at 0.025
    # exactly gives a low bound of 0.19928571428571434 here)
    every_third = (np.arange(35) % 3 == 0).astype(float)
    assert bootstrap_ci(every_third, seed=0) == (0.19928571428571495, 0.4857142857142857)


def test_summarize_and_majority_baseline() -> None:
    def pred(gold: int, pred: int, pred_norm: int) -> Prediction:
        return Prediction("k", "f:1", ["A", "B", "C"], gold, [0.0] * 3, pred, pred_norm, 0)

    predictions = [pred(0, 0, 1), pred(0, 1, 0), pred(2, 2, 2), pred(0, 0, 0)]
    score = summarize(predictions, seed=0)
    assert (score.n, score.acc, score.acc_norm) == (4, 0.75, 0.75)
    assert score.majority_baseline == majority_baseline([0, 0, 2, 0]) == 0.75
    assert score.ci_low <= 0.75 <= score.ci_high


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")
def test_a_group_is_one_benchmark_in_its_category_as_in_llm_foundry(tmp_path: Path) -> None:
    """A task joins medical_knowledge beside MMLU: llm-foundry averages MMLU's subjects into one
    benchmark (a task with categories), then averages it with the new task."""
    from tests.fixtures.tasks import organs_file

    catalogue = load_tasks(organs_file(tmp_path))  # `organs` is in medical_knowledge
    ours_benchmarks = benchmarks(list(catalogue.values()), Options())
    subjects = [name for name in catalogue if name.startswith("mmlu_")]
    rng = np.random.default_rng(3)
    accuracies = {
        (task, shots): float(rng.uniform(0.2, 0.5))
        for task in catalogue
        for shots in catalogue[task].num_fewshot
    }
    accuracies["organs", 0], accuracies["organs", 2] = 0.9, 0.8
    ours = gauntlet_scores(accuracies, ours_benchmarks)
    theirs_benchmarks = [
        *(Benchmark("medqa_4options", n, "clinical_reasoning", 0.25) for n in (0, 3)),
        *(Benchmark("pubmedqa", n, "biomedical_literature", 1 / 3) for n in (0, 1)),
        *(Benchmark("mmlu_medical", n, "medical_knowledge", 0.25) for n in (0, 5)),
        *(Benchmark("organs", n, "medical_knowledge", 0.5) for n in (0, 2)),
    ]
    theirs = llm_foundry_gauntlet(accuracies, theirs_benchmarks, {"mmlu_medical": subjects})
    assert ours == pytest.approx(theirs, abs=1e-6)  # llm-foundry holds them as float32
    flat = [  # each subject its own benchmark: what the gauntlet did before
        rescaled(accuracies[task, n], catalogue[task].random_baseline)
        for task in [*subjects, "organs"]
        for n in catalogue[task].num_fewshot
    ]
    assert abs(ours["medical_knowledge"] - sum(flat) / len(flat)) > 0.05
    # a subject not scored: the group is incomplete and its category left out (llm-foundry,
    # which cannot know a category is missing, would average the subjects it saw)
    partial = {k: v for k, v in accuracies.items() if k != ("mmlu_anatomy", 5)}
    assert set(gauntlet_scores(partial, ours_benchmarks)) == set(ours) - {"medical_knowledge"}


def test_gold_prob_is_the_renormalised_probability_of_the_gold_choice() -> None:
    sure = Prediction("k", "f:1", ["A", "B"], 0, [0.0, -20.0], 0, 0, 0)
    even = Prediction("k", "f:1", ["A", "B", "C", "D"], 2, [-3.0] * 4, 0, 0, 0)
    leaning = Prediction("k", "f:1", ["yes", "no", "maybe"], 1, [-2.0, -1.0, -2.0], 1, 1, 0)
    assert sure.gold_prob == pytest.approx(1.0) and even.gold_prob == pytest.approx(0.25)
    assert leaning.gold_prob == pytest.approx(np.e / (np.e + 2))
    score = summarize([sure, even, leaning], seed=0, acc_norm=False)
    assert score.gold_prob == pytest.approx((1.0 + 0.25 + np.e / (np.e + 2)) / 3)
    assert score.chance_prob == pytest.approx((1 / 2 + 1 / 4 + 1 / 3) / 3)
    assert score.gold_prob_ci[0] <= score.gold_prob <= score.gold_prob_ci[1]
    assert score.acc_norm is None


def test_gold_text_bpb_pools_bits_over_bytes_as_lm_eval_bits_per_byte() -> None:
    """lm-eval's ``bits_per_byte``: total -log2 P over total bytes, not a mean of ratios."""
    short = Prediction("k", "f:1", ["A", "B"], 1, [-9.0, -2.0], 1, 1, 0,
                       gold_text_logprob=-2.0, gold_text_bytes=2)  # fmt: skip
    long = Prediction("k", "f:2", ["yes", "no", "maybe"], 2, [-1.0, -1.0, -12.0], 0, 0, 0,
                      gold_text_logprob=-12.0, gold_text_bytes=6)  # fmt: skip
    assert short.gold_text_bpb == pytest.approx(2.0 / (2 * np.log(2)))
    score = summarize([short, long], seed=0, iters=200)
    assert score.gold_text_bpb == pytest.approx((2.0 + 12.0) / np.log(2) / 8)  # not the mean
    assert score.gold_text_bpb != pytest.approx((short.gold_text_bpb + long.gold_text_bpb) / 2)
    low, high = score.gold_text_bpb_ci  # resampling [short, long]: each alone, or both
    assert (low, high) == pytest.approx((short.gold_text_bpb, long.gold_text_bpb))
    unknown = Prediction("k", "f:1", ["A", "B"], 1, [-9.0, -2.0], 1, 1, 0)  # not scored
    assert np.isnan(unknown.gold_text_bpb)
    assert np.isnan(summarize([unknown], seed=0).gold_text_bpb)


def test_gold_text_is_the_option_text_after_a_cloze_prompt(tiny: tuple[object, object]) -> None:
    """Letters: the gold option's text after the question without its options (one more
    request, by the same scorer; the choices' scores are those of the choices alone).
    Words: the gold choice as scored, no extra request. Bytes count the answer's own text
    ("héart": 6 bytes), not the delimiter's space or a context's trailing space moved into the
    continuation (lm-eval's bits_per_byte counts its target alone)."""
    from eval_gauntlet.prompts import FORMATS, Prompt, render
    from eval_gauntlet.scoring import loglikelihoods, score_prompts
    from medtasks.formats import Item

    model, tokenizer = tiny
    item = Item("k", "f:1", "Which organ?", {"A": "liver", "B": "héart"}, "B")
    shot = Item("s", "f:2", "Which bone?", {"A": "femur", "B": "lung"}, "A")
    lettered = render(FORMATS["lettered"], item, [shot])
    assert lettered.cloze_context == (
        "Question: Which bone?\nAnswer: femur\n\nQuestion: Which organ?\nAnswer:"
    )
    assert lettered.gold_text == (lettered.cloze_context, " héart")
    word = Prompt(item, "Organ: ", ["liver", "héart"], 1)
    assert word.gold_text == ("Organ: ", " héart")
    letter, words = score_prompts(model, tokenizer, [lettered, word], max_length=64,
                                  progress=False)  # fmt: skip
    (cloze,), _ = loglikelihoods(model, tokenizer, [lettered.gold_text], max_length=64,
                                 progress=False)  # fmt: skip
    assert letter.gold_text_logprob == cloze != letter.logprobs[1]
    assert (letter.gold_text_bytes, words.gold_text_bytes) == (6, 6) == (len("héart".encode()),) * 2
    assert words.gold_text_logprob == words.logprobs[1]
    assert letter.gold_text_bpb == pytest.approx(-cloze / (6 * np.log(2)))
    assert words.gold_text_bpb == pytest.approx(-words.logprobs[1] / (6 * np.log(2)))
    pairs = [(p.context, c) for p in (lettered, word) for c in p.continuations]
    alone, _ = loglikelihoods(model, tokenizer, pairs, max_length=64, progress=False)
    assert letter.logprobs + words.logprobs == alone  # bit-equal: acc and acc_norm unchanged


def test_no_gold_text_skips_the_cloze_pass(
    tiny: tuple[object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--no-gold-text``: the choices alone are scored, the same picks, no gold_text_bpb."""
    from eval_gauntlet import scoring
    from eval_gauntlet.prompts import FORMATS, Prompt, render
    from medtasks.formats import Item

    model, tokenizer = tiny
    item = Item("k", "f:1", "Which organ?", {"A": "liver", "B": "heart"}, "B")
    prompts = [render(FORMATS["lettered"], item), Prompt(item, "Organ:", ["liver", "heart"], 1)]
    passes: list[int] = []
    real = scoring.loglikelihoods

    def counted(*args: Any, **kwargs: Any) -> Any:
        passes.append(len(args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "loglikelihoods", counted)
    on = scoring.score_prompts(model, tokenizer, prompts, max_length=64, progress=False)
    assert passes == [5]  # one pass: the four choices and the lettered item's cloze text
    off = scoring.score_prompts(model, tokenizer, prompts, max_length=64, progress=False,
                                gold_text=False)  # fmt: skip
    assert passes == [5, 4]  # the choices only
    assert [p.logprobs for p in off] == [p.logprobs for p in on]
    assert all(np.isnan(p.gold_text_bpb) for p in off) and not any(
        np.isnan(p.gold_text_bpb) for p in on
    )
    assert np.isnan(summarize(off, seed=0).gold_text_bpb)
