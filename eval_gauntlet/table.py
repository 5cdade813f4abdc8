"""``results.md``: per checkpoint, its in-context benchmarks and gauntlet scores, its fine-tuned
metrics, then rows of other kinds; redrawn from the whole ``results.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_prep.files import write_text_atomic
from eval_gauntlet.rows import FINETUNE, GAUNTLET_KINDS, latest_rows
from eval_gauntlet.tasks import JOIN, LM_EVAL, MARK, explain

NOTE = "‡"  # a fine-tuned metric's aggregation, told under the table
OLD_ROUGE = "0-1, the mean of per-example F (a row written before ROUGE took the scripts' scale)"


def fmt(value: Any, spec: str = ".3f") -> str:
    """``value`` formatted by ``spec``; blank where it is not a number (None) or is NaN."""
    if not isinstance(value, int | float) or value != value:
        return ""
    return format(value, spec)


def _interval(values: Any) -> str:
    if not isinstance(values, list | tuple) or len(values) != 2:
        return ""
    low, high = (fmt(v) for v in values)
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


def _shots(row: dict[str, Any]) -> str:
    """`` (0-shot)``: a category or average of one ``--shots`` count (each task's: nothing)."""
    return "" if row.get("shots") is None else f" ({row['shots']}-shot)"


def _benchmark_lines(scored: list[dict[str, Any]], notes: dict[str, int]) -> list[str]:
    """The table of a checkpoint's task and group rows."""
    out = [
        "| task | shots | n | acc | 95% CI | gold prob | 95% CI | gold text bits/byte | 95% CI "
        "| acc_norm | random | majority | truncated | s |",
        "|---|---:|---:|---:|---|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in scored:
        label = f"**{row.get('task')}** (all)" if row["kind"] == "group" else str(row.get("task"))
        label += _marks(row, notes)
        out.append(
            f"| {label} | {row.get('shots')} | {row.get('n')} | {fmt(row.get('acc'))} | "
            f"{_interval(row.get('ci95'))} | {fmt(row.get('gold_prob'))} | "
            f"{_interval(row.get('gold_prob_ci95'))} | {fmt(row.get('gold_text_bpb'))} | "
            f"{_interval(row.get('gold_text_bpb_ci95'))} | {fmt(row.get('acc_norm'))} | "
            f"{fmt(row.get('random_baseline'))} | {fmt(row.get('majority_baseline'))} | "
            f"{row.get('truncated', '')} | {fmt(row.get('seconds'), '.1f')} |"
        )
    return out


def _other_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Rows of kinds the gauntlet does not write (fine-tuning's...): their scalar fields."""
    skip = {"time", "checkpoint", "step", "tokens", "kind", "task"}
    out = ["| kind | task | values |", "|---|---|---|"]
    for row in rows:
        values = ", ".join(
            f"{key} {fmt(value) if isinstance(value, float) else value}"
            for key, value in row.items()
            if key not in skip and isinstance(value, int | float | str)
        )
        out.append(f"| {row.get('kind')} | {row.get('task', '')} | {values} |")
    return out


def _finetune_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A checkpoint's fine-tuned rows: a metric per line, each aggregation a note (none: [])."""
    mine = [row for row in rows if row.get("kind") == FINETUNE]
    if not mine:
        return []
    out = ["", "| fine-tuned task | family | split | metric | n | value | 95% CI |",
           "|---|---|---|---|---:|---:|---|"]  # fmt: skip
    notes: dict[str, int] = {}
    for row in mine:
        low, high = row.get("ci95") or [None, None]
        interval = f"{fmt(low)}–{fmt(high)}" if low is not None else ""
        how = row.get("aggregation") or (OLD_ROUGE if row["metric"].startswith("rouge") else None)
        mark = f" {NOTE}{notes.setdefault(how, len(notes) + 1)}" if how else ""
        out.append(
            f"| {row['task']} | {row.get('family', '')} | {row.get('split', '')} | "
            f"{row['metric']}{mark} | {row.get('n', '')} | {fmt(row['value'])} | {interval} |"
        )
    if notes:
        out += ["", *(f"{NOTE}{number} {how}" for how, number in notes.items())]
    return out


def render_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per checkpoint, its tasks and groups, the gauntlet scores, then other rows; a row
    marked † was not scored as lm-eval's own task (the note under the table says how).
    """
    rows = latest_rows(rows)
    out = ["# Eval gauntlet results", ""]
    notes: dict[str, int] = {}
    for name in dict.fromkeys(row.get("checkpoint") for row in rows):
        mine = [row for row in rows if row.get("checkpoint") == name]
        first = mine[0]
        out += [
            f"## {name} (step {fmt(first.get('step'), 'd') or '?'}, "
            f"tokens {fmt(first.get('tokens'), ',d') or '?'})",
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
                f"| {row.get('task')}{_shots(row)}{_marks(row, notes)} | {fmt(row.get('score'))} |"
                for row in gauntlet
            ]
        out += _finetune_lines(mine)
        others = [row for row in mine if row.get("kind") not in (*GAUNTLET_KINDS, FINETUNE)]
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
    write_text_atomic(path, render_table(rows))
