"""The demo's last screen: the results table once, the plot, three answers, what it all shows."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

from biomedlm.finetune.generation.readers import Example
from biomedlm.generate import NOT_MEDICAL_ADVICE
from eval_gauntlet.finetuned.samples import pick_samples
from eval_gauntlet.rows import FINETUNE, PLOT, RESULTS, TABLE, latest_rows, read_rows
from eval_gauntlet.table import fmt
from medtasks.jsonl import json_objects

SAMPLES = 3
WIDTH = 100  # a sample's question, answer and reference are cut to one line of this width
IN_CONTEXT = ("task", "group", "average")  # category rows stay in results.md
NUMBER = re.compile(r"^[-0-9.]*$")  # a number, an interval, or nothing
WHAT_IT_SHOWS = (
    "A model this small (2 layers, 60 batches of a PubMed sample) scores at chance and repeats "
    "words: chance-level scores are expected here. The demo shows that every stage runs and where "
    "its files go; the tests show that each stage learns "
    "(docs/fine-tuning.md#what-the-tests-show-learns)."
)
NEXT = (  # what to try next, and the command
    ("a bigger recipe, on GPUs (docs/pretraining.md)",
     "composer -n 8 train recipes/pretrain/ladder/biomedlm-125m.yaml"),
    ("the paper's fine-tuning table, in small (docs/paper.md)", "make paper-demo"),
    ("every stage, its options and what it measured", "README.md and docs/, a page per stage"),
)  # fmt: skip


def aligned(table: list[list[str]], indent: str = "  ") -> list[str]:
    """Text columns: numbers right-aligned, words left-aligned (the first row: the headers)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    right = [all(NUMBER.match(row[i]) for row in table[1:]) for i in range(len(widths))]
    return [
        indent + "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in
                           zip(row, widths, right, strict=True)).rstrip()
        for row in table
    ]  # fmt: skip


def _checkpoint_label(row: dict[str, Any]) -> str:
    return f"ba{row['step']}" if isinstance(row.get("step"), int) else str(row["checkpoint"])


def in_context_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Accuracy per benchmark (a group as one line) and the gauntlet average, per checkpoint."""
    scored = [row for row in rows if row.get("kind") in IN_CONTEXT]
    if not scored:
        return []
    members = {m for row in scored if row["kind"] == "group" for m in row.get("members") or ()}
    labels = {row["checkpoint"]: _checkpoint_label(row) for row in scored}
    by_key = {(r["checkpoint"], r["kind"], r["task"], r.get("shots")): r for r in scored}
    keys = dict.fromkeys((r["kind"], r["task"], r.get("shots")) for r in scored)
    table = [["in-context accuracy", "shots", "chance", *labels.values()]]
    for kind, task, shots in keys:
        if task in members:
            continue
        first = next(
            by_key[(c, kind, task, shots)] for c in labels if (c, kind, task, shots) in by_key
        )
        name = {"group": f"{task} (all {len(first.get('members') or ())})", "average":
                "gauntlet average *"}.get(kind, task)  # fmt: skip
        value = "score" if kind == "average" else "acc"
        chance = 0.0 if kind == "average" else first.get("random_baseline")
        values = [fmt(by_key.get((c, kind, task, shots), {}).get(value)) for c in labels]
        table.append([name, "" if shots is None else str(shots), fmt(chance), *values])
    return [*aligned(table), "  * accuracy above chance, rescaled: 0 at chance, 1 all correct"]


def finetuned_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Each fine-tuned metric on its test split (lengths in words: results.md)."""
    mine = [r for r in rows if r.get("kind") == FINETUNE and not r["metric"].startswith("words_")]
    if not mine:
        return []
    table = [["fine-tuned", "family", "metric", "n", "value", "95% CI", "chance"]]
    for row in mine:
        spec = ".1f" if row.get("scale") else ".3f"  # ROUGE and BLEU: 0-100
        low, high = row.get("ci95") or (None, None)
        interval = f"{fmt(low, spec)}-{fmt(high, spec)}" if low is not None else ""
        table.append([str(row["task"]), str(row.get("family", "")), str(row["metric"]),
                      str(row.get("n", "")), fmt(row["value"], spec), interval,
                      fmt(row.get("random_baseline"))])  # fmt: skip
    starts = sorted({Path(str(r["init_from"])).name for r in mine if r.get("init_from")})
    told = f" from {', '.join(starts)}" if starts else ""
    return [f"Fine-tuned{told}, scored on each task's test split:", *aligned(table)]


def _line(text: str) -> str:
    return textwrap.shorten(" ".join(text.split()) or "(empty)", WIDTH, placeholder=" ...")


def sample_lines(rows: list[dict[str, Any]], n: int = SAMPLES) -> list[str]:
    """``n`` answers of the last generation fine-tune beside their references."""
    scored = [r for r in rows if r.get("kind") == FINETUNE and r.get("family") == "generation"]
    if not scored:
        return []
    row = scored[-1]
    answers = [answer for _, answer in json_objects(Path(row["predictions"]))]
    examples = [Example(a["id"], a["source"], a["reference"], {"qtype": a.get("qtype", "")})
                for a in answers]  # fmt: skip
    more = f" (more: {row['samples']})" if row.get("samples") else ""
    out = [f"{n} answers to {row['task']} test questions{more}", NOT_MEDICAL_ADVICE]
    for number, i in enumerate(pick_samples(examples, n), start=1):
        out += [f"  {number}. {_line(answers[i]['source'])}",
                f"     model:     {_line(answers[i]['generated'])}",
                f"     reference: {_line(answers[i]['reference'])}"]  # fmt: skip
    return out


def end_screen(eval_dir: Path) -> list[str]:
    """The lines of the screen the demo ends on, from the results in ``eval_dir``."""
    rows = latest_rows(read_rows(eval_dir / RESULTS))
    out = [
        "",
        f"Results (every row, and how it was scored: {eval_dir / TABLE})",
        *in_context_lines(rows),
    ]
    out += [*finetuned_lines(rows), f"plot: {eval_dir / PLOT}", "", *sample_lines(rows), ""]
    out += [*textwrap.wrap(WHAT_IT_SHOWS, WIDTH), "", "Next:"]
    return out + [f"  {what}: {command}" for what, command in NEXT]
