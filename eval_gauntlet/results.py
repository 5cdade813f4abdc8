"""Recording an evaluation: rows appended to ``results.jsonl`` as it goes, predictions written,
then the table and the plot redrawn from every row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.evaluate import (
    PROVENANCE,
    GauntletResult,
    GroupResult,
    TaskResult,
    pooled_provenance,
    subset,
)
from eval_gauntlet.metrics import Score
from eval_gauntlet.options import Options
from eval_gauntlet.plot import plot_results
from eval_gauntlet.rows import (
    PLOT,
    RESULTS,
    TABLE,
    Checkpoint,
    append_rows,
    latest_rows,
    predictions_path,
    read_rows,
    result_row,
    rows_of,
    write_jsonl,
)
from eval_gauntlet.table import write_table
from eval_gauntlet.tasks import AVERAGE, LM_EVAL, Task, definition, pooled_protocol


def record(out_dir: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` to ``out_dir/results.jsonl`` and redraw the table and the plot."""
    append_rows(out_dir / RESULTS, rows)
    every = read_rows(out_dir / RESULTS)
    write_table(every, out_dir / TABLE)
    plot_results(every, out_dir / PLOT)


def check_definitions(out_dir: Path, tasks: Sequence[Task]) -> None:
    """Refuse ``tasks`` scored into ``out_dir`` before under the same name with another definition:
    the table and plot know a task by its name.
    """
    scored = {
        row["task"]: row["definition"]
        for row in rows_of(out_dir)
        if row.get("kind") == "task" and row.get("definition")
    }
    for task in tasks:
        if scored.get(task.name, definition(task)) != definition(task):
            raise GauntletError(
                f"--out {out_dir}: task {task.name!r} was scored there with another definition "
                f"(its data, format, few-shot source or baseline changed since: {task.origin}); "
                "use another --out or another task name"
            )


def _score_fields(score: Score) -> dict[str, Any]:
    return {
        "acc": score.acc,
        "acc_norm": score.acc_norm,  # null where lm-eval's task defines no acc_norm
        "ci95": [score.ci_low, score.ci_high],
        "gold_prob": score.gold_prob,
        "gold_prob_ci95": list(score.gold_prob_ci),
        "chance_prob": score.chance_prob,
        "gold_text_bpb": score.gold_text_bpb,  # the gold answers' text, bits/byte (lower: better)
        "gold_text_bpb_ci95": list(score.gold_text_bpb_ci),
        "n": score.n,
        "majority_baseline": score.majority_baseline,
        "truncated": score.truncated,
    }


def _benchmark_row(
    checkpoint: Checkpoint, kind: str, name: str, scored: TaskResult | GroupResult, **fields: Any
) -> dict[str, Any]:
    return result_row(
        checkpoint, kind, name, shots=scored.shots, seconds=round(scored.seconds, 3),
        protocol=scored.protocol, softmax_dtype=scored.softmax_dtype,
        model_dtype=scored.model_dtype, **fields, **scored.provenance,
        **_score_fields(scored.score),
    )  # fmt: skip


def recorded_tasks(
    out_dir: Path, name: str, options: Options, pairs: Collection[tuple[str, int]]
) -> list[dict[str, Any]]:
    """The latest task rows of checkpoint ``name`` in ``out_dir`` that a re-score's categories and
    average count beside its own: a benchmark's (task, shots) of ``pairs``, scored as ``options``
    score (seed, subset, dtypes, gold text); rows scored otherwise are not pooled with its own."""
    return [
        r for r in latest_rows(rows_of(out_dir))
        if r.get("checkpoint") == name and r.get("kind") == "task"
        and (r.get("task"), r.get("shots")) in pairs and scored_alike(r, options)
    ]  # fmt: skip


def scored_alike(row: dict[str, Any], options: Options) -> bool:
    """Whether task ``row`` was scored as ``options`` score (seed, subset, dtypes, gold text)."""
    how = (row.get(k) for k in ("seed", "subset", "dtype", "gold_text", "softmax_dtype"))
    return tuple(how) == (
        options.seed,
        subset(options, str(row["task"])),
        options.dtype,
        not options.no_gold_text,
        options.softmax_dtype,
    )


def recorded_accuracies(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, int], float]:
    """(task, shots) -> acc of :func:`recorded_tasks`' rows."""
    return {(r["task"], r["shots"]): r["acc"] for r in rows if r.get("acc") is not None}


def gauntlet_rows(
    checkpoint: Checkpoint, result: GauntletResult, recorded: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Rows of the groups, categories and average (the ``recorded`` task rows counted where this
    run did not score them); a pooled protocol: its parts' differences."""
    scored = {(r.task.name, r.shots) for r in result.tasks}
    before = [row for row in recorded if (row["task"], row["shots"]) not in scored]
    rows = [
        _benchmark_row(checkpoint, "group", group.name, group,
                       random_baseline=group.random_baseline, members=group.members)
        for group in result.groups
    ]  # fmt: skip
    categories = {name for name in result.gauntlet if name != AVERAGE}
    for name, score in result.gauntlet.items():
        kind = "average" if name == AVERAGE else "category"
        within = categories if kind == "average" else {name}
        parts = [r for r in result.tasks if r.task.category in within]
        counted = [row for row in before if row.get("category") in within]
        protocols = [r.protocol for r in parts] + [row.get("protocol", LM_EVAL) for row in counted]
        rows.append(
            result_row(
                checkpoint, kind, name, shots=result.shots, score=score,
                protocol=pooled_protocol(protocols),
                softmax_dtype=result.softmax_dtype, model_dtype=result.model_dtype,
                **pooled_provenance(
                    [r.provenance for r in parts] + [{k: row.get(k) for k in PROVENANCE} for row in counted]
                ),
            )
        )  # fmt: skip
    return rows


def write_predictions(out_dir: Path, checkpoint: Checkpoint, result: TaskResult) -> Path:
    """Per-example predictions of one benchmark, for audit: one JSON line per item."""
    path = predictions_path(out_dir, checkpoint, f"{result.task.name}.{result.shots}shot.jsonl")
    records = [
        {
            "task": result.task.name,
            "shots": result.shots,
            "key": p.key,
            "source": p.source,
            "choices": p.choices,
            "gold": p.gold,
            "pred": p.pred,
            "pred_norm": p.pred_norm,
            "correct": p.correct,
            "correct_norm": p.correct_norm,
            "logprobs": p.logprobs,
            "gold_prob": p.gold_prob,
            "gold_text_bpb": p.gold_text_bpb,
            "truncated_tokens": p.truncated,
            "fewshot_keys": p.fewshot_keys,
            "doc_id": p.index,  # the item's index in the task file (lm-eval's doc_id)
            # lm-eval's --log_samples arguments: [context, continuation] for each choice
            "context": p.context,
            "continuations": p.continuations,
        }
        for p in result.predictions
    ]
    return write_jsonl(path, records)


class Recorder:
    """Writes one evaluation into ``out_dir`` as it goes; ``finish`` adds the summaries."""

    def __init__(
        self, out_dir: str | Path, checkpoint: Checkpoint, recorded: Sequence[dict[str, Any]] = ()
    ) -> None:
        self.out_dir = Path(out_dir)
        self.checkpoint = checkpoint
        self.recorded = recorded  # recorded_tasks before this evaluation

    def add(self, result: TaskResult) -> None:
        """Record one scored benchmark (predictions first, then its results line)."""
        write_predictions(self.out_dir, self.checkpoint, result)
        task = result.task
        row = _benchmark_row(self.checkpoint, "task", task.name, result, category=task.category,
                             random_baseline=task.random_baseline, format=task.format)  # fmt: skip
        append_rows(self.out_dir / RESULTS, [row])

    def finish(self, result: GauntletResult) -> None:
        """Record the group and gauntlet scores and redraw the table and the plot."""
        record(self.out_dir, gauntlet_rows(self.checkpoint, result, self.recorded))
