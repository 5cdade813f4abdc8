"""Score an in-memory model on the gauntlet: plan every prompt, score it, aggregate.

``plan`` reads all data and builds every prompt first, so bad input fails before a model loads.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.metrics import Benchmark, Score, gauntlet_scores, summarize
from eval_gauntlet.options import SOFTMAX_DTYPES, Options
from eval_gauntlet.prompts import FORMATS, Prompt, build_prompts
from eval_gauntlet.scoring import Prediction, check_vocab, context_length, score_prompts
from eval_gauntlet.tasks import SELF, Task, definition, groups_of, pooled_protocol, protocol
from medtasks.formats import FormatError, Item, load_items

log = logging.getLogger(__name__)


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
    protocol: str = "lm-eval"
    softmax_dtype: str = SOFTMAX_DTYPES[0]
    model_dtype: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)  # how it was scored: provenance()


@dataclass
class GroupResult:
    """A group's members pooled: MMLU's subjects scored together."""

    name: str
    shots: int
    score: Score
    members: list[str]
    seconds: float
    random_baseline: float  # the members' baselines weighted by their item counts
    protocol: str = "lm-eval"
    softmax_dtype: str = SOFTMAX_DTYPES[0]
    model_dtype: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class GauntletResult:
    """Everything one evaluation of one model produced."""

    tasks: list[TaskResult]
    groups: list[GroupResult] = field(default_factory=list)
    gauntlet: dict[str, float] = field(default_factory=dict)  # categories and "average"
    shots: int | None = None  # the one shot count of every benchmark (--shots); None: each task's
    softmax_dtype: str = SOFTMAX_DTYPES[0]
    model_dtype: str = ""


def shot_counts(task: Task, options: Options) -> tuple[int, ...]:
    """The shot counts ``task`` is scored at under ``options``."""
    return (options.shots,) if options.shots is not None else task.num_fewshot


def _picked(options: Options, task: str) -> list[int] | None:
    """The item indices ``options.samples`` names for ``task`` (None: not named)."""
    samples = options.samples
    assert not isinstance(samples, str), "--samples is read first: eval_gauntlet.tasks.select"
    return sorted(set(samples[task])) if samples is not None and task in samples else None


def _chosen(count: int, options: Options, task: str) -> list[int]:
    """Indices of the items scored: the first ``limit``, a seeded ``sample``, or ``samples``'s."""
    indices = _picked(options, task)
    if indices is not None:
        bad = [i for i in indices if not 0 <= i < count]
        if bad:
            raise GauntletError(
                f"--samples {task}: index {bad[0]} is not an item of the task ({count} items: "
                f"0..{count - 1})"
            )
        return indices
    chosen = list(range(count))[: options.limit]
    if options.sample is not None and options.sample < len(chosen):
        chosen = sorted(random.Random(options.seed).sample(chosen, options.sample))
    return chosen  # the shipped files are sorted by answer: --sample sees every answer


def subset(options: Options, task: str) -> dict[str, Any] | None:
    """Which items of ``task`` were scored: None (all), its ``limit``, ``sample`` or ``samples``."""
    if options.limit is not None:
        return {"limit": options.limit}
    if options.sample is not None:
        return {"sample": options.sample}
    indices = _picked(options, task)
    return {"samples": {task: indices}} if indices is not None else None


PROVENANCE = ("definition", "seed", "subset", "fewshot_source", "dtype", "gold_text")  # its keys


def provenance(options: Options, task: Task) -> dict[str, Any]:
    """What a results row records of how ``task`` was scored, beside its protocol."""
    return {
        "definition": definition(task),  # one per task name in a results folder
        "seed": options.seed,
        "subset": subset(options, task.name),
        "fewshot_source": str(task.fewshot_source) if task.fewshot_source else SELF,
        "dtype": options.dtype,
        "gold_text": not options.no_gold_text,
    }


def pooled_provenance(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The provenance of a pooled score: its parts', their samples and few-shot sources united."""
    if not parts or not all(parts):  # results built without provenance (older callers)
        return {}
    pooled = {key: value for key, value in parts[0].items() if key != "definition"}
    sources = {part["fewshot_source"] for part in parts}  # each a task's: one file or self
    pooled["fewshot_source"] = sources.pop() if len(sources) == 1 else sorted(sources)
    samples = {
        name: indices
        for part in parts
        if part["subset"] and "samples" in part["subset"]
        for name, indices in part["subset"]["samples"].items()
    }
    if samples:
        pooled["subset"] = {"samples": samples}
    return pooled


def plan(tasks: Sequence[Task], options: Options) -> list[Planned]:
    """Load every task's items and few-shot pool and build all prompts (no model needed)."""

    @functools.cache
    def items_of(path: Path, subject: str | None, schema: str, cop_base: int | None) -> list[Item]:
        try:
            return load_items(path, subject, schema=schema, cop_base=cop_base)
        except FormatError as exc:
            raise GauntletError(str(exc)) from None

    planned = []
    for task in tasks:
        how = (task.subject, task.schema, task.cop_base)
        items = items_of(task.data, *how)
        pool = items if task.fewshot_source is None else items_of(task.fewshot_source, *how)
        keep = _chosen(len(items), options, task.name)
        for shots in shot_counts(task, options):
            prompts = build_prompts(
                task.name,
                task.format,
                items,
                pool,
                shots,
                seed=options.seed,
                sampler=task.fewshot_sampler,
                exclude_item=task.fewshot_source is None,
                keep=keep,
                draw_kept_only=_picked(options, task.name) is not None,
            )
            planned.append(Planned(task, shots, prompts))
    return planned


def benchmarks(catalogue: Sequence[Task], options: Options) -> list[Benchmark]:
    """The gauntlet's benchmarks: each (task, shots), a group's members counted as one."""
    groups = groups_of({t.name: t for t in catalogue})
    first: dict[str, Task] = {}  # a group's members share category, baseline and shots (tasks.py)
    for task in catalogue:
        first.setdefault(task.name if task.group is None else task.group, task)
    return [
        Benchmark(name, shots, task.category, task.random_baseline, tuple(groups.get(name, ())))
        for name, task in first.items()
        for shots in shot_counts(task, options)
    ]


def _summarize(predictions: Sequence[Prediction], tasks: Sequence[Task], options: Options) -> Score:
    """``predictions``' score, with acc_norm where lm-eval's task of each of ``tasks`` has it."""
    upstream = [FORMATS[task.format].lm_eval for task in tasks]
    acc_norm = all(task is not None and task.acc_norm for task in upstream)
    return summarize(predictions, seed=options.seed, acc_norm=acc_norm)  # 1,000 resamples


def pooled_groups(
    results: Sequence[TaskResult], catalogue: Sequence[Task], options: Options
) -> list[GroupResult]:
    """Each group whose members were all scored at a shot count, over all their items."""
    by_key = {(r.task.name, r.shots): r for r in results}
    pooled = []
    for name, members in groups_of({t.name: t for t in catalogue}).items():
        for shots in sorted({r.shots for r in results if r.task.name in members}):
            if any((member, shots) not in by_key for member in members):
                continue
            scored = [by_key[member, shots] for member in members]
            predictions = [p for part in scored for p in part.predictions]
            score = _summarize(predictions, [part.task for part in scored], options)
            chance = sum(part.task.random_baseline * part.score.n for part in scored) / score.n
            first = scored[0]
            pooled.append(
                GroupResult(
                    name, shots, score, list(members), sum(p.seconds for p in scored), chance,
                    protocol=pooled_protocol(part.protocol for part in scored),
                    softmax_dtype=first.softmax_dtype, model_dtype=first.model_dtype,
                    provenance=pooled_provenance([part.provenance for part in scored]),
                )
            )  # fmt: skip
    return pooled


def _score_benchmark(
    model: Any, tokenizer: Any, item: Planned, options: Options, max_length: int, model_dtype: str
) -> TaskResult:
    """One planned (task, shots) benchmark scored, with one log line of its numbers."""
    start = time.perf_counter()
    predictions = score_prompts(
        model,
        tokenizer,
        item.prompts,
        max_length=max_length,
        batch_size=options.batch_size,
        desc=f"{item.task.name} {item.shots}-shot",
        progress=not options.no_progress,
        softmax_dtype=options.softmax_dtype,
        gold_text=not options.no_gold_text,
    )
    score = _summarize(predictions, [item.task], options)
    result = TaskResult(
        item.task, item.shots, score, predictions, time.perf_counter() - start,
        protocol=protocol(item.task, item.shots), softmax_dtype=options.softmax_dtype,
        model_dtype=model_dtype, provenance=provenance(options, item.task),
    )  # fmt: skip
    log.info(
        "%s %d-shot: acc %.4f gold_prob %.4f gold_text_bpb %.4f (n=%d, %.1fs)",
        item.task.name, item.shots, score.acc, score.gold_prob, score.gold_text_bpb, score.n,
        result.seconds,
    )  # fmt: skip
    if score.truncated:
        log.info("%s %d-shot: %d prompts truncated", item.task.name, item.shots, score.truncated)
    return result


def evaluate_model(
    model: Any,
    tokenizer: Any,
    planned: Sequence[Planned],
    options: Options,
    *,
    catalogue: Sequence[Task] | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
    recorded: Mapping[tuple[str, int], float] | None = None,
) -> GauntletResult:
    """Score ``planned`` with ``model``; groups and categories from ``catalogue`` (default: the
    planned tasks), one not fully scored left out as llm-foundry does. ``on_result`` sees each.
    ``recorded``: (task, shots) accuracies of this model scored before, which categories count
    where this run did not score them (a partial re-score keeps the whole average).
    """
    check_vocab(model, tokenizer, "model")
    max_length = context_length(model, tokenizer)
    model_dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    catalogue = list(catalogue) if catalogue is not None else list({p.task: None for p in planned})
    results = []
    for item in planned:
        result = _score_benchmark(model, tokenizer, item, options, max_length, model_dtype)
        results.append(result)
        if on_result is not None:
            on_result(result)
    accuracies = {**(recorded or {}), **{(r.task.name, r.shots): r.score.acc for r in results}}
    return GauntletResult(
        tasks=results,
        groups=pooled_groups(results, catalogue, options),
        gauntlet=gauntlet_scores(accuracies, benchmarks(catalogue, options)),
        shots=options.shots,
        softmax_dtype=options.softmax_dtype,
        model_dtype=model_dtype,
    )
