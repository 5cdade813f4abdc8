"""Session fixtures shared by the test packages: the tiny tokenizer, model and Composer run."""

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
