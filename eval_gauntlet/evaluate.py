"""Score an in-memory model on the gauntlet: plan every prompt, score it, aggregate.

``plan`` reads and validates all data and builds every prompt first, so bad input fails before
a model is loaded or a result written. ``evaluate_model`` takes a model and tokenizer already in
memory: a Hugging Face folder (``python -m eval_gauntlet score``) or, later, a Composer
checkpoint loader calls it the same way.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval_gauntlet.data import Item, load_items
from eval_gauntlet.metrics import Benchmark, Score, gauntlet_scores, summarize
from eval_gauntlet.prompts import Prompt, build_prompts
from eval_gauntlet.scoring import Prediction, check_vocab, context_length, score_prompts
from eval_gauntlet.tasks import Task, groups_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """How to run the gauntlet."""

    shots: int | None = None  # one shot count for every task instead of each task's list
    limit: int | None = None  # score only the first N items of each task (as lm-eval's limit)
    sample: int | None = None  # score a seeded random N items of each task (order kept)
    seed: int = 1234  # few-shot draws and bootstrap resampling
    batch_size: int = 8
    bootstrap_iters: int = 1000
    progress: bool = True  # tqdm bars


@dataclass(frozen=True)
class Planned:
    """One (task, shots) benchmark with its prompts built."""

    task: Task
    shots: int
    prompts: list[Prompt]


@dataclass
class TaskResult:
    """A scored benchmark."""

    task: Task
    shots: int
    score: Score
    predictions: list[Prediction]
    seconds: float


@dataclass
class GroupResult:
    """A group's members pooled: MMLU's subjects scored together."""

    name: str
    shots: int
    score: Score
    members: list[str]
    seconds: float
    random_baseline: float  # the members' baselines weighted by their item counts


@dataclass
class GauntletResult:
    """Everything one evaluation of one model produced."""

    tasks: list[TaskResult]
    groups: list[GroupResult] = field(default_factory=list)
    gauntlet: dict[str, float] = field(default_factory=dict)  # categories and "average"


def shot_counts(task: Task, options: Options) -> tuple[int, ...]:
    """The shot counts ``task`` is scored at under ``options``."""
    return (options.shots,) if options.shots is not None else task.num_fewshot


def plan(tasks: Sequence[Task], options: Options) -> list[Planned]:
    """Load every task's items and few-shot pool and build all prompts (no model needed)."""
    cache: dict[tuple[Path, str | None], list[Item]] = {}

    def items_of(path: Path, subject: str | None) -> list[Item]:
        if (path, subject) not in cache:
            cache[path, subject] = load_items(path, subject)
        return cache[path, subject]

    planned = []
    for task in tasks:
        items = items_of(task.data, task.subject)
        pool = items if task.fewshot_source is None else items_of(task.fewshot_source, task.subject)
        chosen = items[: options.limit] if options.limit is not None else items
        if options.sample is not None and options.sample < len(chosen):
            keep = sorted(random.Random(options.seed).sample(range(len(chosen)), options.sample))
            chosen = [chosen[i] for i in keep]  # the shipped files are sorted by answer
        for shots in shot_counts(task, options):
            prompts = build_prompts(task.name, task.format, chosen, pool, shots, seed=options.seed)
            planned.append(Planned(task, shots, prompts))
    return planned


def benchmarks(catalogue: Sequence[Task], options: Options) -> list[Benchmark]:
    """The gauntlet's (task, shots) benchmarks, each in its task's category."""
    return [
        Benchmark(task.name, shots, task.category, task.random_baseline)
        for task in catalogue
        for shots in shot_counts(task, options)
    ]


def pooled_groups(
    results: Sequence[TaskResult], catalogue: Sequence[Task], options: Options
) -> list[GroupResult]:
    """Each group whose members were all scored at a shot count, over all their items."""
    by_key = {(r.task.name, r.shots): r for r in results}
    pooled = []
    for name, members in groups_of({t.name: t for t in catalogue}).items():
        for shots in sorted({r.shots for r in results if r.task.name in members}):
            parts = [by_key.get((member, shots)) for member in members]
            if any(part is None for part in parts):
                continue
            scored = [part for part in parts if part is not None]
            predictions = [p for part in scored for p in part.predictions]
            score = summarize(predictions, seed=options.seed, iters=options.bootstrap_iters)
            seconds = sum(part.seconds for part in scored)
            chance = sum(part.task.random_baseline * part.score.n for part in scored) / score.n
            pooled.append(GroupResult(name, shots, score, list(members), seconds, chance))
    return pooled


def evaluate_model(
    model: Any,
    tokenizer: Any,
    planned: Sequence[Planned],
    options: Options,
    *,
    catalogue: Sequence[Task] | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
) -> GauntletResult:
    """Score ``planned`` benchmarks with ``model``; groups and categories from ``catalogue``.

    ``catalogue`` (default: the planned tasks) says which tasks make up each group and
    category; one not fully scored is left out, as llm-foundry leaves out a category with a
    missing benchmark. ``on_result`` sees each benchmark as soon as it is scored.
    """
    check_vocab(model, tokenizer, "model")
    max_length = context_length(model, tokenizer)
    catalogue = list(catalogue) if catalogue is not None else list({p.task: None for p in planned})
    results = []
    for item in planned:
        start = time.perf_counter()
        predictions = score_prompts(
            model,
            tokenizer,
            item.prompts,
            max_length=max_length,
            batch_size=options.batch_size,
            desc=f"{item.task.name} {item.shots}-shot",
            progress=options.progress,
        )
        score = summarize(predictions, seed=options.seed, iters=options.bootstrap_iters)
        result = TaskResult(item.task, item.shots, score, predictions, time.perf_counter() - start)
        log.info(
            "%s %d-shot: acc %.4f acc_norm %.4f (n=%d, %.1fs)",
            item.task.name, item.shots, score.acc, score.acc_norm, score.n, result.seconds,
        )  # fmt: skip
        if score.truncated:
            log.info(
                "%s %d-shot: %d prompts truncated", item.task.name, item.shots, score.truncated
            )
        results.append(result)
        if on_result is not None:
            on_result(result)
    accuracies = {(r.task.name, r.shots): r.score.acc for r in results}
    return GauntletResult(
        tasks=results,
        groups=pooled_groups(results, catalogue, options),
        gauntlet=gauntlet_scores(accuracies, benchmarks(catalogue, options)),
    )
