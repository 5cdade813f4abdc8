"""Every generation recipe loads, translates and builds exactly as written (GPU ones on CPU too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from biomedlm.finetune.recipe import FinetuneFacts
from biomedlm.recipe_kinds import load_recipe
from tests.fixtures.paths import REPO

GENERATION = sorted(  # the recipe as loaded (bases merged) says its task
    p
    for p in (REPO / "recipes" / "finetune").glob("*.yaml")
    if load_recipe(p, ["model.init_from=x"], components=False).task == "generation"
)


def test_there_are_generation_recipes() -> None:
    assert {p.stem for p in GENERATION} >= {"patient-qa", "patient-qa-lora", "meqsum",
                                           "patient-qa-debug-cpu"}  # fmt: skip


@pytest.mark.parametrize("path", GENERATION, ids=lambda p: p.stem)
def test_generation_recipe_as_written_translates_and_builds(
    path: Path, tmp_path: Path, tiny_dir: Path
) -> None:
    """Load as written (outputs redirected), translate, llm-foundry's checks, build model and loader."""
    from llmfoundry.command_utils.train import validate_config
    from llmfoundry.data.finetuning import build_finetuning_dataloader
    from llmfoundry.utils.builders import build_composer_model, build_tokenizer
    from llmfoundry.utils.config_utils import (
        TRAIN_CONFIG_KEYS,
        TrainConfig,
        make_dataclass_and_log_config,
    )
    from omegaconf import OmegaConf

    from biomedlm.finetune.generation.launch import foundry_sections
    from biomedlm.foundry_config import trainer_settings

    recipe = load_recipe(path, [f"run_dir={tmp_path / 'run'}"])
    assert recipe.task == "generation"
    facts = FinetuneFacts(
        init_folder=tiny_dir, tokenizer_dir=tiny_dir, on_gpu=True, n_positions=1024
    )
    cfg = {**trainer_settings(recipe), **foundry_sections(recipe, facts)}
    _, train_cfg = make_dataclass_and_log_config(
        OmegaConf.create(cfg), TrainConfig, TRAIN_CONFIG_KEYS, transforms="all"
    )
    validate_config(train_cfg)
    assert train_cfg.max_seq_len == recipe.data.max_length
    assert "finetune_eval" in cfg["callbacks"] and "finetune_export" in cfg["callbacks"]
    if recipe.model.lora is not None:
        assert cfg["callbacks"]["finetune_export"]["lora_export"] == recipe.model.lora.export
    tokenizer = build_tokenizer(cfg["tokenizer"]["name"], cfg["tokenizer"]["kwargs"])
    assert tokenizer.convert_tokens_to_ids("<|startoftext|>") == len(tokenizer) - 1
    model_cfg = dict(cfg["model"])
    model = build_composer_model(model_cfg.pop("name"), model_cfg, tokenizer)
    rows = model.model.get_input_embeddings().weight.shape[0]
    assert rows % 64 == 0 and rows >= len(tokenizer)
    trained = {n for n, p in model.model.named_parameters() if p.requires_grad}
    if recipe.model.lora is not None:
        assert all("lora_" in n or "trainable_tokens" in n for n in trained), trained
        assert any("trainable_tokens" in n for n in trained)  # the separator's row
    loader_cfg = dict(cfg["train_loader"])
    loader_cfg.pop("name")
    spec = build_finetuning_dataloader(tokenizer=tokenizer, device_batch_size=2, **loader_cfg)
    batch = next(iter(spec.dataloader))
    assert batch["input_ids"].shape[0] == 2 and (batch["labels"] != -100).any()


def test_loaders_pin_memory_on_gpus_take_the_recipes_workers_and_lora_translates(
    tmp_path: Path, tiny_dir: Path
) -> None:
    """The loaders as pretraining's (test_recipes.py); LoRA as peft_config always built it."""
    from transformers import AutoTokenizer

    from biomedlm.finetune.generation.launch import foundry_sections
    from tests.fixtures.runs import GENERATION_DEBUG

    facts = FinetuneFacts(
        init_folder=tiny_dir, tokenizer_dir=tiny_dir, on_gpu=True, n_positions=1024
    )
    lora = "model.lora={r: 4, alpha: 8, dropout: 0.0}"
    workers = ["data.num_workers=2", "data.prefetch_factor=4", lora]
    recipe = load_recipe(GENERATION_DEBUG, [f"run_dir={tmp_path / 'run'}", *workers])
    cfg = foundry_sections(recipe, facts)
    for loader in (cfg["train_loader"], cfg["eval_loader"]):
        assert loader["name"] == "finetuning"
        assert (loader["pin_memory"], loader["num_workers"], loader["prefetch_factor"]) == (
            True, 2, 4,
        )  # fmt: skip
        assert loader["persistent_workers"] is True
    separator = AutoTokenizer.from_pretrained(cfg["tokenizer"]["name"]).convert_tokens_to_ids(
        "<|startoftext|>"
    )
    assert cfg["model"]["peft_config"] == {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "target_modules": ["c_attn", "c_proj", "c_fc"],
        "fan_in_fan_out": True,
        "trainable_token_indices": [separator],
    }
    unpinned = load_recipe(
        GENERATION_DEBUG, [f"run_dir={tmp_path / 'run'}", "data.pin_memory=false"]
    )
    assert foundry_sections(unpinned, facts)["train_loader"]["pin_memory"] is False


def test_a_max_new_tokens_the_model_cannot_hold_fails_at_launch(
    tmp_path: Path, tiny_dir: Path
) -> None:
    """Not after the whole fine-tune, when scoring would need room for a prompt."""
    from biomedlm.finetune.launch import prepare_finetune
    from biomedlm.settings import RecipeError
    from tests.fixtures.models import tiny_model
    from tests.fixtures.runs import GENERATION_DEBUG

    short = tiny_model(tmp_path / "short", tiny_dir, n_positions=64)
    run = tmp_path / "run"
    overrides = [f"run_dir={run}", f"model.init_from={short}", "data.max_length=64"]
    recipe = load_recipe(GENERATION_DEBUG, [*overrides, "eval.decoding.max_new_tokens=64"])
    with pytest.raises(RecipeError) as failed:
        prepare_finetune(recipe)
    assert str(failed.value).startswith(
        "eval.decoding.max_new_tokens: 64 leaves no room for a prompt in model.init_from's "
        "64 positions; "
    )
    assert not (run / "data").exists() and not (run / "tokenizer").exists()
    scoring_off = [*overrides, "eval.decoding.max_new_tokens=64", "eval.test_after_fit=false"]
    prepare_finetune(load_recipe(GENERATION_DEBUG, scoring_off))  # never decodes: not checked


def test_fewer_training_rows_than_one_batch_fail_at_launch(tmp_path: Path, tiny_dir: Path) -> None:
    """Was llm-foundry's NotEnoughDatasetSamplesError, after the model was built."""
    from transformers import AutoTokenizer

    from biomedlm.finetune.launch import prepare_finetune
    from biomedlm.settings import RecipeError
    from tests.fixtures.data import copy_task
    from tests.fixtures.runs import GENERATION_DEBUG, jsonl_overrides

    data = copy_task(tmp_path / "rows.jsonl", AutoTokenizer.from_pretrained(tiny_dir), 5)
    overrides = jsonl_overrides(
        tmp_path / "run", tiny_dir, data, "data.split=null", "eval.test_after_fit=false"
    )
    with pytest.raises(RecipeError) as failed:
        prepare_finetune(load_recipe(GENERATION_DEBUG, overrides, components=False))
    assert str(failed.value) == (
        "data.train: 5 training rows (after data.split and data.train_limit), fewer than one "
        "batch (global_train_batch_size=8); add training data, or set "
        "global_train_batch_size=5 or fewer"
    )
    smaller = [*overrides, "global_train_batch_size=4", "device_train_microbatch_size=4"]
    prepare_finetune(load_recipe(GENERATION_DEBUG, smaller, components=False))


@pytest.mark.parametrize("path", GENERATION, ids=lambda p: p.stem)
def test_generation_recipes_leave_room_for_a_prompt(path: Path) -> None:
    """Each recipe's decoding fits the positions of the model it is written for."""
    recipe = load_recipe(path, ["model.init_from=x"], components=False)
    positions = 256 if "debug" in path.stem else 1024  # the debug model's; BioMedLM's
    assert recipe.data.max_length <= positions
    assert recipe.eval.decoding.max_new_tokens <= positions // 2
