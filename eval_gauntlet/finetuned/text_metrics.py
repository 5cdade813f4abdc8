"""Generated text against references: ROUGE-1/2/L, BLEU, lengths, with bootstrap 95% intervals.

- ROUGE with Porter stemming, F-measure per example, from ``rouge-score`` (Google's reference
  implementation, the package the BioMedLM scripts scored MeQSum with); the corpus value is the
  mean over examples (what ``rouge_score.scoring.BootstrapAggregator`` reports as ``mid``).
- BLEU from ``sacrebleu`` (its default 13a tokenizer), corpus-level on its 0-100 scale; the
  interval resamples examples and recomputes the corpus BLEU from their n-gram statistics.
- Length in words (whitespace-separated) of the generated and the reference texts.

Intervals are percentile bootstraps over examples, seeded (the gauntlet's :func:`bootstrap_ci`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eval_gauntlet.finetuned.rows import MetricValue
from eval_gauntlet.metrics import bootstrap_ci

ROUGE = ("rouge1", "rouge2", "rougeL")


def rouge(generated: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-example ROUGE F-measures (stemmed) of ``generated`` against ``references``."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE), use_stemmer=True)
    scores = [scorer.score(ref, gen) for gen, ref in zip(generated, references, strict=True)]
    return {key: np.array([s[key].fmeasure for s in scores], dtype=np.float64) for key in ROUGE}


def words(text: str) -> int:
    """Length of ``text`` in whitespace-separated words."""
    return len(text.split())


def bleu(
    generated: Sequence[str], references: Sequence[str], *, seed: int, iters: int
) -> MetricValue:
    """Corpus BLEU (0-100) with a bootstrap interval over examples."""
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    # per-example n-gram statistics (sacrebleu's own, summed by its corpus_score)
    stats = np.array(metric._extract_corpus_statistics(list(generated), [list(references)]))
    value = metric._compute_score_from_stats(stats.sum(axis=0).tolist()).score
    rng = np.random.default_rng(seed)
    samples = [
        metric._compute_score_from_stats(stats[idx].sum(axis=0).tolist()).score
        for idx in rng.integers(0, len(stats), size=(iters, len(stats)))
    ]
    low, high = np.quantile(samples, [0.025, 0.975])
    return MetricValue("bleu", float(value), float(low), float(high))


def mean_with_ci(name: str, values: np.ndarray, *, seed: int, iters: int) -> MetricValue:
    """The mean of per-example ``values`` with its bootstrap interval."""
    low, high = bootstrap_ci(values, seed=seed, iters=iters)
    return MetricValue(name, float(values.mean()), low, high)


def text_metrics(
    generated: Sequence[str], references: Sequence[str], *, seed: int = 0, iters: int = 1000
) -> tuple[list[MetricValue], dict[str, np.ndarray]]:
    """Corpus metrics with intervals, and the per-example values they come from."""
    per_example = rouge(generated, references)
    per_example["words_generated"] = np.array([words(t) for t in generated], dtype=np.float64)
    per_example["words_reference"] = np.array([words(t) for t in references], dtype=np.float64)
    metrics = [mean_with_ci(k, v, seed=seed, iters=iters) for k, v in per_example.items()]
    metrics.insert(len(ROUGE), bleu(generated, references, seed=seed, iters=iters))
    return metrics, per_example
