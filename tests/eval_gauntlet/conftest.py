"""Session fixtures of the gauntlet tests: the tiny tokenizer and model, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval_gauntlet.tiny import tiny_model, to_bf16, train_tokenizer


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """The tiny model folder shared by the session (1024-token context)."""
    return tiny_model(tmp_path_factory.mktemp("tiny"), tokenizer_dir)


@pytest.fixture(scope="session")
def close_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """A tiny model with close calls: GPT-2's own initializer_range 0.02, so the choices'
    log-likelihoods of an item are within hundredths of a nat, and some within 1e-4."""
    return tiny_model(tmp_path_factory.mktemp("close"), tokenizer_dir, initializer_range=0.02)


@pytest.fixture(scope="session")
def close_bf16_dir(tmp_path_factory: pytest.TempPathFactory, close_dir: Path) -> Path:
    """``close_dir``'s model saved in bfloat16, as the 2.7B recipe exports its weights."""
    return to_bf16(close_dir, tmp_path_factory.mktemp("close-bf16"))


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> tuple[object, object]:
    """The tiny model and tokenizer, loaded once."""
    from eval_gauntlet.scoring import load_hf_model

    return load_hf_model(tiny_dir)


@pytest.fixture(scope="session")
def composer_run(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    """A Composer ``save_folder`` of the tiny model: ``ep0-ba1-rank0.pt``, ``ep0-ba2-rank0.pt``.

    Trained at learning rate 0, so its weights are ``tiny_dir``'s: scoring either must agree.
    """
    import torch
    from composer import Trainer
    from composer.models import HuggingFaceModel
    from composer.optim import DecoupledAdamW
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    ids = torch.randint(0, len(tokenizer), (4, 16), generator=torch.Generator().manual_seed(0))
    data = [{"input_ids": row, "labels": row} for row in ids]
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    save_folder = tmp_path_factory.mktemp("run") / "checkpoints"
    composer_model = HuggingFaceModel(model, tokenizer=tokenizer, use_logits=True)
    Trainer(
        model=composer_model,
        train_dataloader=loader,
        optimizers=DecoupledAdamW(composer_model.parameters(), lr=0.0, weight_decay=0.0),
        max_duration="2ba",
        save_folder=str(save_folder),
        save_interval="1ba",
        device="cpu",
        progress_bar=False,
    ).fit()
    return save_folder
