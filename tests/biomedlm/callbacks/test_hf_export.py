"""Hugging Face exports follow the umask, as every other output of the project."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture
def registered() -> Iterator[None]:
    """``hf_checkpointer`` as :mod:`biomedlm.train` registers it, llm-foundry's restored after."""
    from llmfoundry import registry

    from biomedlm.callbacks.hf_export import NAME, register

    original = registry.callbacks.get(NAME)
    register()
    yield
    registry.callbacks.register(NAME, func=original)


@pytest.mark.parametrize(("mask", "dirs", "files"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_exports_follow_the_umask(
    registered: None, tiny_dir: Path, tmp_path: Path, mask: int, dirs: int, files: int
) -> None:
    """Was ``model.safetensors`` 0600 (safetensors' own mode): a group could not read the weights."""
    from composer import Trainer
    from composer.models import HuggingFaceModel
    from llmfoundry.utils.builders import build_callback
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    model = HuggingFaceModel(AutoModelForCausalLM.from_pretrained(tiny_dir), tokenizer=tokenizer)
    ids = torch.randint(0, len(tokenizer), (2, 8))
    loader = torch.utils.data.DataLoader([{"input_ids": r, "labels": r} for r in ids], batch_size=2)
    exports = {name: tmp_path / name for name in ("hf_checkpointer", "finetune_export")}
    callbacks = [
        build_callback(name, {"save_folder": str(folder), "save_interval": "1ba"})
        for name, folder in exports.items()
    ]
    previous = os.umask(mask)
    try:
        Trainer(
            model=model,
            train_dataloader=loader,
            max_duration="1ba",
            callbacks=callbacks,
            device="cpu",
            progress_bar=False,
        ).fit()
    finally:
        os.umask(previous)
    for folder in exports.values():
        written = sorted((folder / "huggingface" / "ba1").rglob("*"))
        assert folder / "huggingface" / "ba1" / "model.safetensors" in written
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
        assert modes == {p.name: dirs if p.is_dir() else files for p in written}
        assert stat.S_IMODE((folder / "huggingface" / "ba1").stat().st_mode) == dirs
