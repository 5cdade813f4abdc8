"""Fixtures of the training tests: the default data, prepared once per session under a tmp folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.biomedlm import debug_runs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
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
