"""Relaunching a run: finished -> one line and exit 0; changed -> refused or applied, and recorded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from biomedlm.relaunch import ARCHITECTURE, RESTORED, _under, changed_keys
from tests.biomedlm.debug_runs import REPO, debug_command


def test_changed_keys_are_classified() -> None:
    old = {
        "model": {"n_layers": 2, "dropout": 0.1},
        "optimizer": {"lr": 1e-3},
        "max_duration": "4ba",
    }
    new = {
        "model": {"n_layers": 3, "dropout": 0.1},
        "optimizer": {"lr": 2e-3},
        "max_duration": "8ba",
    }
    changes = changed_keys(old, new)
    assert changes == {
        "max_duration": ("4ba", "8ba"),
        "model.n_layers": (2, 3),
        "optimizer.lr": (1e-3, 2e-3),
    }
    assert _under("model.n_layers", ARCHITECTURE) and _under("optimizer.lr", RESTORED)
    assert not _under("max_duration", ARCHITECTURE + RESTORED)
    assert not _under("model.n_layers_extra", ARCHITECTURE)  # prefixes are whole keys


def launch(out: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        debug_command(out, "eval_interval=100ba", "save_interval=2ba", *overrides),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_relaunching_a_finished_or_changed_run(tmp_path: Path) -> None:
    first = launch(tmp_path, "max_duration=2ba")
    assert first.returncode == 0, first.stderr[-2000:]

    again = launch(tmp_path, "max_duration=2ba")  # a scheduler retrying a finished job
    assert again.returncode == 0, again.stderr[-2000:]
    (line,) = [x for x in again.stdout.splitlines() if "has finished" in x]
    assert line.startswith("run debug-cpu has finished: batch 2,") and "max_duration" in line
    assert "Traceback" not in again.stderr

    deeper = launch(tmp_path, "max_duration=2ba", "model.n_layers=3")
    assert deeper.returncode == 2
    assert "error: model.n_layers (2 -> 3): differs from the run's recipe" in deeper.stderr
    assert "Traceback" not in deeper.stderr

    faster = launch(tmp_path, "max_duration=2ba", "optimizer.lr=0.001")
    assert faster.returncode == 2
    assert "optimizer.lr (0.003 -> 0.001)" in faster.stderr and "would be ignored" in faster.stderr

    longer = launch(tmp_path, "max_duration=3ba")  # applies: train one more batch
    assert longer.returncode == 0, longer.stderr[-2000:]
    assert "relaunch with changed settings, applied: max_duration ('2ba' -> '3ba')" in longer.stderr
    records = sorted((tmp_path / "run" / "launches").glob("*-recipe.yaml"))
    assert len(records) == 2  # refused launches record nothing; the kept ones each have a file
    assert "max_duration: 3ba" in (tmp_path / "run" / "recipe.yaml").read_text()
    assert "max_duration: 2ba" in records[0].read_text()
