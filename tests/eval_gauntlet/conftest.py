"""Session fixtures of the gauntlet tests: the tiny tokenizer and model, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval_gauntlet.tiny import tiny_model, train_tokenizer


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """The tiny model folder shared by the session (1024-token context)."""
    return tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer_dir)


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> tuple[object, object]:
    """The tiny model and tokenizer, loaded once."""
    from eval_gauntlet.scoring import load_hf_model

    return load_hf_model(tiny_dir)
