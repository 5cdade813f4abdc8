"""Session fixtures of the gauntlet tests (the tiny model's folders are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.models import tiny_model, to_bf16


@pytest.fixture(scope="session")
def close_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """A tiny model with close calls: GPT-2's own initializer_range 0.02, so the choices'
    log-likelihoods of an item are within hundredths of a nat, and some within 1e-4."""
    return tiny_model(tmp_path_factory.mktemp("close"), tokenizer_dir, initializer_range=0.02)


@pytest.fixture(scope="session")
def close_scaled_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """``close_dir``'s shape scaling attention by inverse layer index, as BioMedLM's config does."""
    return tiny_model(
        tmp_path_factory.mktemp("close-scaled"), tokenizer_dir, initializer_range=0.02,
        scale_attn_by_inverse_layer_idx=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def close_bf16_dir(tmp_path_factory: pytest.TempPathFactory, close_dir: Path) -> Path:
    """``close_dir``'s model saved in bfloat16, as the 2.7B recipe exports its weights."""
    return to_bf16(close_dir, tmp_path_factory.mktemp("close-bf16"))


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> tuple[object, object]:
    """The tiny model and tokenizer, loaded once."""
    from eval_gauntlet.scoring import load_hf_model

    return load_hf_model(tiny_dir)
