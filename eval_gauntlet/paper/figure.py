"""``paper.png``: each result of the paper, published (a diamond) beside this run (a dot, its 95%
interval a bar), on the paper's scales (accuracy in percent, ROUGE in points)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_prep.files import atomic_write


def plot_paper(entries: list[dict[str, Any]], path: Path, demo: bool) -> None:
    """Draw the entries that have a published number or a value of this run into ``path``."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state

    shown = [e for e in entries if e["published"] is not None or e["value"] is not None]
    fig = Figure(figsize=(8.0, 0.45 * max(len(shown), 1) + 1.6))
    ax = fig.subplots()
    for y, entry in enumerate(shown):
        if entry["published"] is not None:
            ax.plot(entry["published"], y, "D", color="black")
        if entry["value"] is not None:
            low, high = entry["ci95"]
            err = None
            if low is not None and high is not None:
                err = [[entry["value"] - low], [high - entry["value"]]]
            ax.errorbar(entry["value"], y, xerr=err, fmt="o", color="C0", capsize=3)
    ax.plot([], [], "D", color="black", label="published")
    ax.plot([], [], "o", color="C0", label="this run (95% CI)")
    ax.set_yticks(range(len(shown)), [e["name"] for e in shown], fontsize=8)
    ax.invert_yaxis()
    drawn = [x for e in shown for x in (e["published"], e["value"], *e["ci95"]) if x is not None]
    low = min([0, *drawn])  # the gauntlet's average (above chance, rescaled) is negative below it
    ax.set_xlim(low - 2 if low < 0 else 0, 100)
    ax.set_xlabel("accuracy (%) or ROUGE (points)")
    title = "BioMedLM paper vs this run"
    ax.set_title(title + (" (plumbing: debug model, slices)" if demo else ""), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
