"""The paper tests' working directory: the recipes, the shipped benchmark files and PubMedQA."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval_gauntlet.paper import run as paper_run
from eval_gauntlet.paper import tasks as paper_tasks
from eval_gauntlet.paper.machine import Machine
from tests.fixtures.paths import REPO


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository-like working directory whose data/finetune holds PubMedQA alone, on a
    machine with 8 GPUs (so the paper's own recipes are planned; none is launched here)."""
    root = tmp_path / "repo"
    (root / "data" / "finetune").mkdir(parents=True)
    for name in ("recipes", "medtasks"):
        (root / name).symlink_to(REPO / name)
    (root / "data" / "finetune" / "pubmedqa").symlink_to(REPO / "data" / "finetune" / "pubmedqa")
    monkeypatch.chdir(root)
    monkeypatch.setattr(paper_run, "probe", lambda: Machine(8))

    def launch(command: list[str], folder: Path, what: str) -> int:
        raise AssertionError(f"{folder.name} launched: {' '.join(command)}")

    monkeypatch.setattr(paper_tasks, "_launch", launch)
    return root
