"""Generated text against references: ROUGE-1/2/L, BLEU, lengths, with bootstrap 95% intervals.

ROUGE (``rouge-score``, stemmed F, 0-100) aggregated as the BioMedLM scripts did
(``run_generation_batch.py``: the mean over batches of :data:`SCRIPT_BATCH` examples of
``BootstrapAggregator``'s mid F; docs/fine-tuning.md); BLEU is ``sacrebleu``'s corpus BLEU;
lengths in words. Intervals: seeded percentile bootstraps over examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eval_gauntlet.metrics import bootstrap_ci
from eval_gauntlet.rows import MetricValue

ROUGE = ("rouge1", "rouge2", "rougeL")
SCALE = 100.0  # ROUGE and BLEU: 0-100, as the scripts and sacrebleu report them
SCRIPT_BATCH = 9  # --batch_size of the README's run_generation_batch.py command (MeQSum)
ROUGE_AGGREGATION = (
    f"x100, the mean over batches of {SCRIPT_BATCH} test examples (test order) of rouge_score "
    "BootstrapAggregator's mid F-measure, as the BioMedLM scripts (run_generation_batch.py); "
    "95% CI: bootstrap of the mean per-example F x100"
)
BLEU_AGGREGATION = "sacrebleu corpus BLEU (0-100); 95% CI: bootstrap over examples"
WORDS_AGGREGATION = "mean words per example; 95% CI: bootstrap over examples"


def _pair_scores(generated: Sequence[str], references: Sequence[str]) -> list[dict[str, Any]]:
    """rouge-score's Score (precision, recall, F) of each pair, stemmed, per ROUGE type."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE), use_stemmer=True)
    return [scorer.score(ref, gen) for gen, ref in zip(generated, references, strict=True)]


def rouge(generated: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-example ROUGE F-measures (stemmed, 0-1) of ``generated`` against ``references``."""
    scores = _pair_scores(generated, references)
    return {key: np.array([s[key].fmeasure for s in scores], dtype=np.float64) for key in ROUGE}


def script_rouge(scores: Sequence[dict[str, Any]], *, seed: int) -> dict[str, float]:
    """The scripts' corpus ROUGE (0-100): per batch ``round(mid.fmeasure * 100, 4)`` of a
    ``BootstrapAggregator``, then the mean over batches. The aggregator draws from numpy's global
    generator: seeded here with ``seed``, the caller's state put back afterwards.
    """
    from rouge_score import scoring

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        batches = []
        for start in range(0, len(scores), SCRIPT_BATCH):
            aggregator = scoring.BootstrapAggregator()
            for pair in scores[start : start + SCRIPT_BATCH]:
                aggregator.add_scores(pair)
            result = aggregator.aggregate()
            batches.append({key: round(result[key].mid.fmeasure * SCALE, 4) for key in ROUGE})
    finally:
        np.random.set_state(state)
    return {key: float(np.mean([batch[key] for batch in batches])) for key in ROUGE}


def bleu(
    generated: Sequence[str], references: Sequence[str], *, seed: int, iters: int
) -> MetricValue:
    """Corpus BLEU (0-100) with a bootstrap interval over examples."""
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    # per-example n-gram statistics (sacrebleu's own, summed by its corpus_score)
    stats = np.array(metric._extract_corpus_statistics(list(generated), [list(references)]))
    value = metric._compute_score_from_stats(stats.sum(axis=0).tolist()).score
    samples = [
        metric._compute_score_from_stats(stats[idx].sum(axis=0).tolist()).score
        for idx in np.random.default_rng(seed).integers(0, len(stats), size=(iters, len(stats)))
    ]
    low, high = np.quantile(samples, [0.025, 0.975])
    return MetricValue("bleu", float(value), float(low), float(high), SCALE, BLEU_AGGREGATION)


def text_metrics(
    generated: Sequence[str], references: Sequence[str], *, seed: int = 0, iters: int = 1000
) -> tuple[list[MetricValue], dict[str, np.ndarray]]:
    """Corpus metrics with intervals, and the per-example values (ROUGE F x100) behind them."""
    scores = _pair_scores(generated, references)
    corpus = script_rouge(scores, seed=seed)
    per_example = {
        key: np.array([s[key].fmeasure * SCALE for s in scores], dtype=np.float64) for key in ROUGE
    }
    metrics = []
    for key in ROUGE:
        low, high = bootstrap_ci(per_example[key], seed=seed, iters=iters)
        metrics.append(MetricValue(key, corpus[key], low, high, SCALE, ROUGE_AGGREGATION))
    metrics.append(bleu(generated, references, seed=seed, iters=iters))
    for name, texts in (("words_generated", generated), ("words_reference", references)):
        values = per_example[name] = np.array([len(t.split()) for t in texts], dtype=np.float64)
        low, high = bootstrap_ci(values, seed=seed, iters=iters)
        metrics.append(
            MetricValue(name, float(values.mean()), low, high, aggregation=WORDS_AGGREGATION)
        )
    return metrics, per_example
