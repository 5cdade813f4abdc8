"""The paper's table for one INIT: ``paper.json``, ``paper.md`` (with examples to check) and
``paper.png``, one entry per row of the paper file whatever happened to its task (docs/paper.md).
Each value is read from its task's ``results.jsonl``, never kept elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from data_prep.files import write_text_atomic
from eval_gauntlet.paper.examples import render_examples
from eval_gauntlet.paper.figure import plot_paper
from eval_gauntlet.paper.spec import IN_CONTEXT, Paper, Row, Task
from eval_gauntlet.paper.tasks import RAN, Outcome
from eval_gauntlet.rows import FINETUNE, RESULTS, TABLE, Checkpoint, latest_rows, predictions_path
from eval_gauntlet.rows import read_rows as read_results
from eval_gauntlet.tasks import AVERAGE

PAPER_JSON, PAPER_MD, PAPER_PNG = "paper.json", "paper.md", "paper.png"
PLUMBING = "plumbing (debug model, slices)"
GAUNTLET = "gauntlet"  # a row's metric: the gauntlet's average (its results row kind AVERAGE)


def _result(outcome: Outcome, row: Row, demo: bool) -> dict[str, Any] | None:
    """The latest results row of ``row`` in its task's results, if any."""
    if outcome.results is None or not (outcome.results / RESULTS).is_file():
        return None
    found = [
        r
        for r in latest_rows(read_results(outcome.results / RESULTS))
        if r.get("checkpoint") == outcome.run_name and r.get("task") == row.result_for(demo)
        and _is_metric(r, row.metric)
    ]  # fmt: skip
    return found[-1] if found else None


def _is_metric(result: dict[str, Any], metric: str) -> bool:
    """``result`` holds ``metric``: a fine-tuned row's, or (``gauntlet``) the gauntlet average."""
    if result.get("kind") == AVERAGE:  # a score above chance (rescaled), no metric of its own
        return metric == GAUNTLET and result.get("shots") is None
    return result.get("kind") == FINETUNE and result.get("metric") == metric


def _value(result: dict[str, Any]) -> tuple[float, list[float | None]]:
    """A result on the paper's scale: accuracy in percent, ROUGE and BLEU in points."""
    factor = 100.0 if result.get("scale") is None else 1.0
    low, high = result.get("ci95") or [None, None]
    value = result["score"] if result.get("kind") == AVERAGE else result["value"]
    return float(value) * factor, [None if x is None else x * factor for x in (low, high)]


def _status(outcome: Outcome, task: Task, found: dict[str, Any] | None, demo: bool) -> str:
    if outcome.status != RAN:
        return outcome.status + (f": {outcome.line}" if outcome.line else "")
    if task.kind == IN_CONTEXT:
        return f"run: the gauntlet's own table is {outcome.task}/{TABLE}"
    if found is None:
        return f"run, but no score of it in {outcome.task}'s {RESULTS}"
    return f"run: {PLUMBING}" if demo else "run"


def _protocol(task: Task, outcome: Outcome, demo: bool) -> list[str]:
    """What differs from the paper's protocol: the task's (or the demo's) and how it was run."""
    if task.kind == IN_CONTEXT:
        scored = ["eval_gauntlet score " + " ".join(outcome.overrides)] if outcome.overrides else []
        return [*task.differences, *scored]
    own = outcome.overrides[2:]  # after model.init_from and run_dir: the machine's and yours
    ran = [f"run with {' '.join(own)}"] if own else []
    if demo:
        return [f"{outcome.recipe}: the CPU plumbing of {task.recipe}, not its protocol", *ran]
    return [*task.differences, *ran]


def _entry(name: str, task: Task, outcome: Outcome, row: Row, demo: bool) -> dict[str, Any]:
    found = _result(outcome, row, demo) if outcome.status == RAN else None
    value, ci95 = _value(found) if found else (None, [None, None])
    differences = [*_protocol(task, outcome, demo), *([outcome.note] if outcome.note else [])]
    predictions = None
    if found and found["kind"] == FINETUNE and outcome.results and outcome.run_name:
        file_name = f"{row.result_for(demo)}.test.jsonl"
        predictions = predictions_path(outcome.results, Checkpoint(outcome.run_name), file_name)
    return {
        "name": row.name,
        "task": name,
        "result": row.result,
        "metric": row.metric,
        "split": row.split,
        "published": row.published,
        "where": row.where,
        "n_split": row.n,
        "value": value,
        "ci95": ci95,
        "n": found.get("n") if found else None,
        "status": _status(outcome, task, found, demo),
        "differences": [d for d in differences if d],
        "predictions": str(predictions) if predictions else None,
        "recipe": outcome.recipe,
    }


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(entries: list[dict[str, Any]], header: dict[str, Any], examples: str) -> str:
    """``paper.md``: what was run on what, the table, and the examples to check."""
    lines = [f"# The BioMedLM paper's table, for {header['init']}", ""]
    lines += [f"- {key}: {_cell(value)}" for key, value in header["about"].items()]
    lines += ["", "| result | published | this run (95% CI) | n | status | what differs |",
              "|---|---:|---|---:|---|---|"]  # fmt: skip
    for e in entries:
        low, high = e["ci95"]
        run = _number(e["value"])
        if e["value"] is not None and low is not None:
            run += f" ({low:.1f}–{high:.1f})"
        n = f"{e['n']:,}" if e["n"] is not None else (f"({e['n_split']:,})" if e["n_split"] else "")
        published = _number(e["published"]) if e["published"] is not None else "no number"
        lines.append(
            f"| {_cell(e['name'])} | {published} | {run} | {n} | {_cell(e['status'])} | "
            f"{_cell('; '.join(e['differences']))} |"
        )
    lines += ["", "Accuracy in percent, ROUGE in points (0-100); n in parentheses: the split's "
              "size as released, where this run has no score. Published numbers and where they "
              "are: eval_gauntlet/paper/paper.yaml. The plot: paper.png.", "", examples]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    out: Path, paper: Paper, outcomes: dict[str, Outcome], header: dict[str, Any], demo: bool
) -> list[dict[str, Any]]:
    """Write ``paper.json``, ``paper.md`` and ``paper.png`` into ``out``; the table's entries."""
    entries = [  # one per row of the paper file, in its order
        _entry(name, task, outcomes[name], row, demo)
        for name, task in paper.tasks.items()
        for row in task.rows
    ]
    document = {**header, "source": vars(paper.source), "rows": entries}
    write_text_atomic(out / PAPER_JSON, json.dumps(document, indent=1, default=str) + "\n")
    write_text_atomic(out / PAPER_MD, markdown(entries, header, render_examples(entries)))
    plot_paper(entries, out / PAPER_PNG, demo)
    return entries
