"""Every callback this project registers survives Composer's event contract.

As Composer's own ``TestCallbacks``: INIT (the Trainer runs it), then FIT_START and FIT_END
twice (a trainer may fit more than once), the callback built by llm-foundry's registry from its
entry point.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.fixtures.models import tiny_model
from tests.fixtures.tokenizers import train_tokenizer

OURS = sorted(
    ep.name
    for ep in entry_points(group="llmfoundry_callbacks")
    if ep.value.startswith(("biomedlm.", "eval_gauntlet."))
)


def finetune_recipe(tmp_path: Path) -> dict[str, Any]:
    from biomedlm.recipe_files import resolved
    from biomedlm.recipe_kinds import load_recipe

    recipe = load_recipe(
        Path(__file__).resolve().parents[3] / "recipes" / "finetune" / "pubmedqa-debug-cpu.yaml",
        [f"run_dir={tmp_path / 'ft'}", "eval.test_after_fit=false"],
        components=False,
    )
    return resolved(recipe)


def arguments(name: str, tmp_path: Path) -> dict[str, Any]:
    if name == "finetune_eval":
        return {"recipe": finetune_recipe(tmp_path)}  # test_after_fit off: a no-op
    return {
        "loss_curve": {"folder": str(tmp_path / "run")},
        "gauntlet_watcher": {
            "folder": str(tmp_path / "ckpt"),  # the trainer's save_folder
            "out": str(tmp_path / "eval"),
            "interval": 0.2,
        },
        "exact_resume": {},
        "finetune_export": {"save_folder": str(tmp_path / "hf")},
        "finetune_after_fit": {"run_dir": str(tmp_path / "ft")},
    }[name]


def test_the_entry_points_are_all_covered() -> None:
    assert OURS == [
        "exact_resume", "finetune_after_fit", "finetune_eval", "finetune_export",
        "gauntlet_watcher", "loss_curve",
    ]  # fmt: skip


@pytest.mark.parametrize("name", OURS)
def test_callback_survives_fit_start_and_end_twice(name: str, tmp_path: Path) -> None:
    from composer import Trainer
    from composer.core import Event
    from composer.models import HuggingFaceModel
    from llmfoundry.utils.builders import build_callback
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tiny_model(tmp_path / "tiny", train_tokenizer(tmp_path / "tok"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = HuggingFaceModel(AutoModelForCausalLM.from_pretrained(folder), tokenizer=tokenizer)
    ids = torch.randint(0, len(tokenizer), (2, 8))
    loader = torch.utils.data.DataLoader([{"input_ids": r, "labels": r} for r in ids], batch_size=2)
    callback = build_callback(name, arguments(name, tmp_path))
    trainer = Trainer(
        model=model,
        train_dataloader=loader,
        max_duration="1ba",
        callbacks=[callback],
        save_folder=str(tmp_path / "ckpt"),
        device="cpu",
        progress_bar=False,
    )
    started = []
    for event in (Event.FIT_START, Event.FIT_END, Event.FIT_START, Event.FIT_END):
        trainer.engine.run_event(event)
        started.append(getattr(callback, "process", None))
    trainer.close()
    if name == "gauntlet_watcher":  # one watcher per run, not one per FIT_START
        assert started[0] is not None and all(p is started[0] for p in started)
        assert started[0].wait(timeout=120) == 0  # closed: it ends by itself, nothing to score
