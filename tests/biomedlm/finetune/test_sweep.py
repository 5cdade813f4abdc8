"""The learning-rate sweep's runs load as launched: ``make sweep``'s default ``1e-5`` included."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from biomedlm.finetune import sweep
from biomedlm.recipe_kinds import load_recipe
from tests.fixtures.paths import REPO

RECIPE = REPO / "recipes" / "finetune" / "pubmedqa-debug-cpu.yaml"


def test_every_sweep_run_loads_with_its_learning_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run's command line (``optimizer.lr=1e-05``...) loads, strictly, to that float.

    The launcher is replaced by loading the recipe in-process with the command's arguments, as
    ``biomedlm.train`` does first, so no training runs.
    """
    loaded: dict[str, float] = {}

    def launch(command: list[str]) -> subprocess.CompletedProcess[str]:
        assert command[0] == "train"
        recipe = load_recipe(command[1], command[2:])
        loaded[recipe.run_name] = recipe.optimizer["lr"]
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(sweep.subprocess, "run", launch)
    lrs = ["1e-5", "2e-5", "5e-5"]  # the Makefile's LRS
    argv = [str(RECIPE), "model.init_from=x", "--lrs", *lrs, "--launcher", "train"]
    assert sweep.main([*argv, "--root", str(tmp_path)]) == 0
    assert loaded == {
        "pubmedqa-debug-cpu-lr1e-05": 1e-5,
        "pubmedqa-debug-cpu-lr2e-05": 2e-5,
        "pubmedqa-debug-cpu-lr5e-05": 5e-5,
    }


def test_summary_has_a_line_per_metric_of_each_run(tmp_path: Path) -> None:
    """A generation run writes several metric rows; keyed by run and task alone, the last one
    (the mean reference length, equal for every run) stood alone under a heading "acc"."""
    runs = {1e-5: "meqsum-lr1e-05", 5e-5: "meqsum-lr5e-05"}
    scores = {"meqsum-lr1e-05": 16.9, "meqsum-lr5e-05": 100.0}
    rows = [
        {
            "kind": "finetune",
            "run": run,
            "task": "meqsum",
            "metric": metric,
            "n": 3,
            "value": value,
            "ci95": [0.0, value],
        }
        for run, rouge in scores.items()
        for metric, value in (("rouge1", rouge), ("words_reference", 4.333))
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    table = sweep.summary(results, runs)
    assert "| 1e-05 | meqsum-lr1e-05 | meqsum | rouge1 | 3 | 16.900 |" in table
    assert "| 5e-05 | meqsum-lr5e-05 | meqsum | rouge1 | 3 | 100.000 |" in table
    assert table.count("| words_reference | 3 | 4.333 |") == 2
