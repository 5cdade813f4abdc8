"""A learning-rate sweep of a fine-tuning recipe: one run per value, the scores side by side.

Usage (from the repository root)::

    python -m biomedlm.finetune.sweep recipes/finetune/pubmedqa.yaml model.init_from=PATH \\
        --lrs 1e-5 2e-5 5e-5 [--launcher "composer -n 8 train"] [--root runs]
    make sweep RECIPE=recipes/finetune/pubmedqa.yaml LRS="1e-5 2e-5 5e-5" ARGS="model.init_from=PATH"

Each value trains as its own run, ``<run_name>-lr<value>``, one after the other, scored into the
shared ``<root>/<run_name>-sweep/eval``; ``sweep.md`` there lists the test scores per learning
rate (docs/fine-tuning.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SUMMARY = "sweep.md"


def summary(results: Path, runs: dict[float, str]) -> str:
    """Markdown: each learning rate's test scores, a line per task and metric (its latest row):
    a generation run has several metrics (ROUGE, BLEU, lengths), a choice run accuracy.
    """
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    if results.is_file():
        for line in results.read_text().splitlines():
            row = json.loads(line)
            if row.get("kind") == "finetune" and row.get("run") in runs.values():
                rows[(row["run"], row["task"], row["metric"])] = row
    out = [
        "| learning rate | run | task | metric | n | value | 95% CI |",
        "|---:|---|---|---|---:|---:|---|",
    ]
    for lr, run in runs.items():
        mine = [row for (r, _, _), row in rows.items() if r == run]
        if not mine:
            out.append(f"| {lr:g} | {run} | (no scores) | | | | |")
        for row in mine:
            low, high = row["ci95"]
            out.append(
                f"| {lr:g} | {run} | {row['task']} | {row['metric']} | {row['n']} | "
                f"{row['value']:.3f} | {low:.3f}–{high:.3f} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m biomedlm.finetune.sweep", description=__doc__)
    parser.add_argument("recipe", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value recipe overrides for every run")
    parser.add_argument("--lrs", nargs="+", type=float, required=True, help="learning rates")
    parser.add_argument("--launcher", default=f"{sys.executable} -m biomedlm.train")
    parser.add_argument("--root", type=Path, default=Path("runs"))
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from biomedlm.finetune.recipe import FinetuneRecipe
    from biomedlm.recipe_kinds import load_recipe
    from biomedlm.settings import RecipeError

    try:
        recipe = load_recipe(args.recipe, args.overrides, components=False)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not isinstance(recipe, FinetuneRecipe):
        print(f"error: {args.recipe}: not a fine-tuning recipe (no task)", file=sys.stderr)
        return 2
    base = recipe.run_name
    folder = args.root / f"{base}-sweep"
    runs = {lr: f"{base}-lr{lr:g}" for lr in args.lrs}
    failed = []
    for lr, run in runs.items():
        command = [
            *shlex.split(args.launcher),
            str(args.recipe),
            *args.overrides,
            f"run_name={run}",
            f"optimizer.lr={lr}",
            f"run_dir={folder / f'lr{lr:g}'}",
            f"eval.out={folder / 'eval'}",
        ]
        log.info("sweep: %s", " ".join(command))
        if subprocess.run(command).returncode != 0:
            failed.append(run)
    (folder / "eval").mkdir(parents=True, exist_ok=True)
    text = summary(folder / "eval" / "results.jsonl", runs)
    (folder / "eval" / SUMMARY).write_text(text)
    print(text, end="")
    if failed:
        print(f"error: runs failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
