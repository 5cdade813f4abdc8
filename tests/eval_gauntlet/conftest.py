"""Session fixtures of the gauntlet tests (the tiny model's folders are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> tuple[object, object]:
    """The tiny model and tokenizer, loaded once."""
    from eval_gauntlet.scoring import load_hf_model

    return load_hf_model(tiny_dir)
