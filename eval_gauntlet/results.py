"""Results on disk: append-only ``results.jsonl``, a Markdown table, predictions (the plot:
:mod:`eval_gauntlet.plot`).

``results.jsonl`` gains whole lines only, one per scored benchmark as soon as it is scored,
then the groups and gauntlet scores; every other file is written to a temporary name and
renamed, so no reader ever sees half a file. The table and plot are redrawn from the whole
``results.jsonl``, so they show every checkpoint scored into the folder.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from biomedlm.files import atomic_write
from biomedlm.trained.names import safe_name
from eval_gauntlet.errors import GauntletError
from eval_gauntlet.evaluate import GauntletResult, GroupResult, TaskResult, pooled_provenance
from eval_gauntlet.metrics import Score
from eval_gauntlet.tasks import (
    AVERAGE,
    JOIN,
    LM_EVAL,
    Task,
    definition,
    explain,
    pooled_protocol,
)

log = logging.getLogger(__name__)
RESULTS = "results.jsonl"
TABLE = "results.md"
PLOT = "results.png"
PREDICTIONS = "predictions"


@dataclass(frozen=True)
class Checkpoint:
    """Which model the results are for; step and tokens when the caller knows them."""

    name: str
    step: int | None = None
    tokens: int | None = None


def append_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append ``rows`` to a JSONL file as whole lines, in one write.

    Under an exclusive ``flock`` of the file, so appenders in other processes take turns; a
    partial last line left by an interrupted writer is repaired first (:func:`repair_rows`).
    """
    data = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as out:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        _repair_tail(path, out)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def repair_rows(path: Path) -> None:
    """Drop a partial last line of a JSONL file (a writer killed mid-line), with one log line."""
    if path.is_file():
        append_rows(path, [])


def _repair_tail(path: Path, out: BinaryIO) -> None:
    """Make ``out`` end with a newline: a cut-off last line is truncated, a whole one ended."""
    size = out.seek(0, os.SEEK_END)
    if size == 0 or (out.seek(size - 1) >= 0 and out.read(1) == b"\n"):
        return
    start = size  # back to just after the last newline (0 when there is none)
    while start > 0:
        step = min(start, 65536)
        out.seek(start - step)
        newline = out.read(step).rfind(b"\n")
        start -= step
        if newline >= 0:
            start += newline + 1
            break
    out.seek(start)
    tail = out.read()
    try:
        json.loads(tail)
    except ValueError:
        os.ftruncate(out.fileno(), start)
        log.warning(
            "%s: dropped a partial last line (%d bytes, an interrupted write)", path, len(tail)
        )
    else:  # a whole row whose newline was not written
        out.write(b"\n")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a ``results.jsonl``; a partial last line (an interrupted write) is ignored.

    A malformed line anywhere else is an error naming the line.
    """
    rows = []
    with path.open(encoding="utf-8", errors="surrogateescape") as lines:
        for line_no, line in enumerate(lines, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):  # the last line, cut off: the next append drops it
                    log.warning(
                        "%s:%d: ignoring a partial last line (an interrupted write)", path, line_no
                    )
                    break
                raise GauntletError(f"{path}:{line_no}: invalid JSON ({exc.msg})") from None
    return rows


def check_definitions(out_dir: Path, tasks: Sequence[Task]) -> None:
    """Refuse to score ``tasks`` into ``out_dir`` when one of them was scored there under the same
    name with another definition (:func:`eval_gauntlet.tasks.definition`): the table and plot
    know a task by its name, and would show the new rows as the old ones' successors."""
    path = out_dir / RESULTS
    if not path.is_file():
        return
    scored = {
        row["task"]: row["definition"]
        for row in read_rows(path)
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


def result_row(checkpoint: Checkpoint, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    """A results.jsonl line: when, which checkpoint, what ``kind`` of result, then ``fields``.

    Any producer (the gauntlet, fine-tuning) writes its rows with this and ``append_rows``; the
    table and plot show the kinds they know and list the others generically.
    """
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": checkpoint.name,
        "step": checkpoint.step,
        "tokens": checkpoint.tokens,
        "kind": kind,
        "task": name,
        **fields,
    }


def task_row(checkpoint: Checkpoint, result: TaskResult) -> dict[str, Any]:
    """The results.jsonl line of one scored benchmark."""
    return result_row(
        checkpoint,
        "task",
        result.task.name,
        shots=result.shots,
        seconds=round(result.seconds, 3),
        random_baseline=result.task.random_baseline,
        category=result.task.category,
        format=result.task.format,
        protocol=result.protocol,
        softmax_dtype=result.softmax_dtype,
        model_dtype=result.model_dtype,
        **result.provenance,
        **_score_fields(result.score),
    )


def group_row(checkpoint: Checkpoint, group: GroupResult) -> dict[str, Any]:
    """The results.jsonl line of a group scored over all its members' items."""
    return result_row(
        checkpoint,
        "group",
        group.name,
        shots=group.shots,
        seconds=round(group.seconds, 3),
        random_baseline=group.random_baseline,
        members=group.members,
        protocol=group.protocol,
        softmax_dtype=group.softmax_dtype,
        model_dtype=group.model_dtype,
        **group.provenance,
        **_score_fields(group.score),
    )


def gauntlet_rows(checkpoint: Checkpoint, result: GauntletResult) -> list[dict[str, Any]]:
    """results.jsonl lines of the group scores and the gauntlet's category and average scores.

    A category's ``protocol`` is ``lm-eval`` only when all its benchmarks were scored as
    lm-eval's tasks (else their differences), the average's when all categories' were.
    """
    rows = [group_row(checkpoint, group) for group in result.groups]
    categories = {name for name in result.gauntlet if name != AVERAGE}
    for name, score in result.gauntlet.items():
        kind = "average" if name == AVERAGE else "category"
        within = categories if kind == "average" else {name}
        parts = [r for r in result.tasks if r.task.category in within]
        rows.append(
            result_row(
                checkpoint, kind, name, shots=None, score=score,
                protocol=pooled_protocol(r.protocol for r in parts),
                softmax_dtype=result.softmax_dtype, model_dtype=result.model_dtype,
                **pooled_provenance([r.provenance for r in parts]),
            )
        )  # fmt: skip
    return rows


def predictions_folder(out_dir: Path, checkpoint: Checkpoint) -> Path:
    """The one folder of a checkpoint's predictions, in-context and fine-tuned alike."""
    return out_dir / PREDICTIONS / safe_name(checkpoint.name)


def write_predictions(out_dir: Path, checkpoint: Checkpoint, result: TaskResult) -> Path:
    """Per-example predictions of one benchmark, for audit: one JSON line per item."""
    path = predictions_folder(out_dir, checkpoint) / f"{result.task.name}.{result.shots}shot.jsonl"
    lines = [
        json.dumps(
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
        )
        + "\n"
        for p in result.predictions
    ]
    atomic_write(path, lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))
    return path


class Recorder:
    """Writes one evaluation into ``out_dir`` as it goes; ``finish`` adds the summaries."""

    def __init__(self, out_dir: str | Path, checkpoint: Checkpoint) -> None:
        self.out_dir = Path(out_dir)
        self.checkpoint = checkpoint

    def add(self, result: TaskResult) -> None:
        """Record one scored benchmark (predictions first, then its results line)."""
        write_predictions(self.out_dir, self.checkpoint, result)
        append_rows(self.out_dir / RESULTS, [task_row(self.checkpoint, result)])

    def finish(self, result: GauntletResult) -> None:
        """Record the group and gauntlet scores and redraw the table and the plot."""
        append_rows(self.out_dir / RESULTS, gauntlet_rows(self.checkpoint, result))
        rows = read_rows(self.out_dir / RESULTS)
        write_table(rows, self.out_dir / TABLE)
        from eval_gauntlet.plot import plot_results  # the plot reads this module's rows

        plot_results(rows, self.out_dir / PLOT)


def latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row for each (checkpoint, kind, task, shots, split, metric), in first order."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # re-assigning a key keeps its first position
        key = tuple(row.get(k) for k in ("checkpoint", "kind", "task", "shots", "split", "metric"))
        latest[json.dumps(key, default=str)] = row
    return list(latest.values())


GAUNTLET_KINDS = ("task", "group", "category", "average")
MARK = "†"  # a benchmark not scored by lm-eval's own protocol


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return ""
    return format(value, spec)


def _interval(values: Any) -> str:
    if not isinstance(values, list | tuple) or len(values) != 2:
        return ""
    low, high = (_fmt(v) for v in values)
    return f"{low}–{high}" if low and high else ""


def _marks(row: dict[str, Any], notes: dict[str, int]) -> str:
    """`` †1 †2``: a footnote number per way ``row`` was not scored as lm-eval's task."""
    protocol = str(row.get("protocol", LM_EVAL))  # rows written before protocols: lm-eval's
    if protocol == LM_EVAL:
        return ""
    return "".join(
        f" {MARK}{notes.setdefault(part, len(notes) + 1)}"
        for part in protocol.split(JOIN)
        if part != LM_EVAL  # older group rows joined lm-eval members' protocols too
    )


def _subset(subset: Any) -> str:
    if not subset:
        return "every item"
    if "limit" in subset:
        return f"the first {subset['limit']} items"
    if "sample" in subset:
        return f"a seeded sample of {subset['sample']} items"
    return "lm-eval --samples lists"


def _how(rows: list[dict[str, Any]]) -> str:
    """``; seed 1234; the first 50 items``: how the rows were scored (rows before: nothing)."""
    told = [row for row in rows if "seed" in row]
    if not told:
        return ""
    seeds = sorted({str(row["seed"]) for row in told})
    subsets = sorted({_subset(row.get("subset")) for row in told})
    return f"; seed {', '.join(seeds)}; {', '.join(subsets)}"


def _benchmark_lines(mine: list[dict[str, Any]], notes: dict[str, int]) -> list[str]:
    out = [
        "| task | shots | n | acc | 95% CI | gold prob | 95% CI | gold text bits/byte | 95% CI "
        "| acc_norm | random | majority | truncated | s |",
        "|---|---:|---:|---:|---|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in mine:
        if row.get("kind") not in ("task", "group"):
            continue
        label = f"**{row.get('task')}** (all)" if row["kind"] == "group" else str(row.get("task"))
        label += _marks(row, notes)
        out.append(
            f"| {label} | {row.get('shots')} | {row.get('n')} | {_fmt(row.get('acc'))} | "
            f"{_interval(row.get('ci95'))} | {_fmt(row.get('gold_prob'))} | "
            f"{_interval(row.get('gold_prob_ci95'))} | {_fmt(row.get('gold_text_bpb'))} | "
            f"{_interval(row.get('gold_text_bpb_ci95'))} | {_fmt(row.get('acc_norm'))} | "
            f"{_fmt(row.get('random_baseline'))} | {_fmt(row.get('majority_baseline'))} | "
            f"{row.get('truncated', '')} | {_fmt(row.get('seconds'), '.1f')} |"
        )
    return out


def _other_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Rows of kinds the gauntlet does not write (fine-tuning's...): their scalar fields."""
    skip = {"time", "checkpoint", "step", "tokens", "kind", "task"}
    out = ["| kind | task | values |", "|---|---|---|"]
    for row in rows:
        values = ", ".join(
            f"{key} {_fmt(value) if isinstance(value, float) else value}"
            for key, value in row.items()
            if key not in skip and isinstance(value, int | float | str) and value is not None
        )
        out.append(f"| {row.get('kind')} | {row.get('task', '')} | {values} |")
    return out


def render_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per checkpoint, its tasks and groups, the gauntlet scores, then other rows.

    ``gold prob`` is the mean probability on the gold choice (the choices' likelihoods
    renormalised; chance is 1 / choices); ``gold text bits/byte`` is how well the model predicts
    the gold answer's text after a prompt that does not list the options (lower is better;
    :attr:`eval_gauntlet.scoring.Prediction.gold_text_bpb`), which falls while a small model's
    accuracy sits at chance. A row marked † (a category or average: one of its benchmarks) was not scored as
    lm-eval's own task; the note under the table says how.
    """
    from eval_gauntlet.finetuned.rows import table_section as finetune_section

    rows = [row for row in latest_rows(rows) if isinstance(row, dict)]
    out = ["# Eval gauntlet results", ""]
    notes: dict[str, int] = {}
    for name in dict.fromkeys(row.get("checkpoint") for row in rows):
        mine = [row for row in rows if row.get("checkpoint") == name]
        first = mine[0]
        out += [
            f"## {name} (step {_fmt(first.get('step'), 'd') or '?'}, "
            f"tokens {_fmt(first.get('tokens'), ',d') or '?'})",
            "",
        ]
        scored = [row for row in mine if row.get("kind") in ("task", "group")]
        if scored:
            dtypes = sorted({f"{r.get('softmax_dtype', 'float32')}" for r in scored})
            models = sorted({str(r["model_dtype"]) for r in scored if r.get("model_dtype")})
            model = f"; model weights {', '.join(models)}" if models else ""
            out += [f"log-softmax in {', '.join(dtypes)}{model}{_how(scored)}", ""]
            out += _benchmark_lines(scored, notes)
        gauntlet = [row for row in mine if row.get("kind") in ("category", "average")]
        if gauntlet:
            out += ["", "| gauntlet (acc above chance, rescaled) | score |", "|---|---:|"]
            out += [
                f"| {row.get('task')}{_marks(row, notes)} | {_fmt(row.get('score'))} |"
                for row in gauntlet
            ]
        out += finetune_section(mine)  # kind: finetune rows (eval_gauntlet.finetuned)
        others = [row for row in mine if row.get("kind") not in (*GAUNTLET_KINDS, "finetune")]
        if others:
            out += ["", *_other_lines(others)]
        out.append("")
    for difference, number in notes.items():
        out.append(f"{MARK}{number} {explain(difference)}")
    if notes:
        out.append("")
    return "\n".join(out)


def write_table(rows: list[dict[str, Any]], path: Path) -> None:
    """Write the Markdown table of ``rows`` to ``path`` (atomically)."""
    text = render_table(rows)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
