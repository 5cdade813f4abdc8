"""Predictions a person can check: per task, its predictions file and 5 examples right, 5 wrong
(a generated answer: the 5 best and 5 worst by ROUGE-L).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SHOWN = 5
CUT = 400  # characters of a question, context or answer on the page


def _cut(text: Any, limit: int = CUT) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _choice(p: dict[str, Any]) -> list[str]:
    options = p.get("options") or []
    letters = [chr(ord("A") + i) for i in range(len(options))]

    def named(i: Any) -> str:
        return f"({letters[i]}) {_cut(options[i], 120)}" if isinstance(i, int) else "?"

    lines = [f"- {_cut(p.get('question', p.get('source', '')))}"]
    if p.get("context"):
        lines.append(f"  - context: {_cut(p['context'], 200)}")
    lines.append(f"  - gold {named(p.get('gold'))}; predicted {named(p.get('pred'))}")
    return lines


def _generated(p: dict[str, Any]) -> list[str]:
    return [
        f"- {_cut(p.get('source', ''))} (ROUGE-L {p.get('rougeL', float('nan')):.1f})",
        f"  - reference: {_cut(p.get('reference', ''))}",
        f"  - generated: {_cut(p.get('generated', ''))}",
    ]


def _section(entry: dict[str, Any]) -> list[str]:
    path = Path(entry["predictions"])
    lines = [f"### {entry['task']}: {entry['name']}", "", f"Predictions: `{path}`.", ""]
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, ValueError):
        rows = []
    if not rows:
        return [*lines, "(none readable)", ""]
    if "correct" in rows[0]:
        right = [p for p in rows if p.get("correct")][:SHOWN]
        wrong = [p for p in rows if not p.get("correct")][:SHOWN]
        render, titles = _choice, ("Right", "Wrong")
    else:
        ranked = sorted(rows, key=lambda p: -float(p.get("rougeL", 0.0)))
        right, wrong = ranked[:SHOWN], ranked[::-1][:SHOWN]
        render, titles = _generated, ("Highest ROUGE-L", "Lowest ROUGE-L")
    for title, shown in zip(titles, (right, wrong), strict=True):
        lines += [f"{title} ({len(shown)}):", ""]
        for p in shown:
            lines += render(p)
        lines.append("")
    return lines


def render_examples(entries: list[dict[str, Any]]) -> str:
    """The page's examples section: each task's first row that has predictions."""
    lines = ["## Predictions to check", ""]
    seen: set[str] = set()
    for entry in entries:
        if entry["predictions"] and entry["task"] not in seen:
            seen.add(entry["task"])
            lines += _section(entry)
    if not seen:
        lines.append("No fine-tuned task ran in this table.")
    return "\n".join(lines)
