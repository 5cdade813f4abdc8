"""The learning-rate sweep's runs load as launched: ``make sweep``'s default ``1e-5`` included."""

from __future__ import annotations

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
