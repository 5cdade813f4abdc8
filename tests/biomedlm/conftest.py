"""Fixtures of the training tests: the default data, prepared once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def prepared() -> Path:
    """The default data (`make prep-data`), prepared once if missing."""
    out = REPO / "outputs" / "prep" / "sample"
    if not (out / "train" / "index.json").is_file():
        subprocess.run(
            [sys.executable, "-m", "data_prep", "data_prep/configs/sample.yaml"],
            cwd=REPO,
            check=True,
        )
    return out
