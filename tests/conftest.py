"""Session fixtures shared by the test packages: the prepared sample, the tiny tokenizer, model and
Composer run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.biomedlm import debug_runs
from tests.eval_gauntlet.tiny import lr0_run, tiny_model, train_tokenizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default data (`make prep-data`'s config), prepared once into the session's tmp folder.

    The debug recipe launched by the tests (:mod:`tests.biomedlm.debug_runs`) reads it.
    """
    out = tmp_path_factory.mktemp("prep") / "sample"
    subprocess.run(
        [sys.executable, "-m", "data_prep", "recipes/data/sample.yaml", f"output_dir={out}"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    debug_runs.DATA = out
    return out


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """The tiny model folder shared by the session (1024-token context)."""
    return tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer_dir)


@pytest.fixture(scope="session")
def composer_run(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    """A Composer ``save_folder`` of the tiny model: ``ep0-ba1-rank0.pt``, ``ep0-ba2-rank0.pt``.

    Trained at learning rate 0, so its weights are ``tiny_dir``'s: scoring either must agree.
    """
    save_folder = tmp_path_factory.mktemp("run") / "checkpoints"
    return lr0_run(tiny_dir, save_folder, batches=2, seq_len=16)
