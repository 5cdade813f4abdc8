"""Every fine-tuning recipe loads, translates and builds exactly as written (GPU recipes on CPU).

The recipes read release files from ``data/finetune/<set>/``: here a working directory holds
small synthetic files in those formats at those paths (the shipped PubMedQA and the gauntlet's
MMLU file linked in), and each recipe runs with only ``model.init_from`` given, through the
launch's translation, llm-foundry's own config checks, its model and data loader builders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from biomedlm.finetune.recipe import FinetuneRecipe
from biomedlm.recipe_kinds import load_recipe
from biomedlm.settings import RecipeError
from tests.fixtures.data import synthetic_choice, synthetic_classification
from tests.fixtures.paths import REPO

ALL = sorted((REPO / "recipes" / "finetune").glob("*.yaml"))
TASKS = {p: load_recipe(p, ["model.init_from=x"], components=False).task for p in ALL}
# the multiple-choice and classification recipes (generation's: test_generation_recipes.py)
RECIPES = [p for p in ALL if TASKS[p] in ("multiple_choice", "classification")]
GPU = [p for p in RECIPES if "debug-cpu" not in p.stem]


def test_every_finetune_recipe_is_covered_by_a_contract_test() -> None:
    assert set(TASKS.values()) <= {"multiple_choice", "classification", "generation"}
    assert {p for p in ALL if TASKS[p] == "generation"} | set(RECIPES) == set(ALL)


def test_there_are_the_issues_recipes() -> None:
    names = {p.stem for p in RECIPES}
    assert {"medqa", "medmcqa", "medmcqa-medqa", "pubmedqa", "bioasq"} <= names
    assert {"pubmedqa-debug-cpu", "medqa-debug-cpu"} <= names


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with every recipe's data files where the recipes expect them."""
    root = tmp_path_factory.mktemp("workdir")
    (root / "recipes").symlink_to(REPO / "recipes")
    (root / "medtasks").symlink_to(REPO / "medtasks")
    data = root / "data" / "finetune"
    for name in ("medqa", "medmcqa", "bioasq"):
        (data / name).mkdir(parents=True)
    (data / "pubmedqa").symlink_to(REPO / "data" / "finetune" / "pubmedqa")
    for i, split in enumerate(("train", "dev", "test")):
        synthetic_choice(data / "medqa" / f"{split}.jsonl", 40, seed=i)
        synthetic_classification(data / "bioasq" / f"{split}.tsv", 40, seed=i)
    for i, split in enumerate(("train", "dev")):
        rows = [json.loads(line) for line in synthetic_choice(root / "q.jsonl", 200, i).open()]
        with (data / "medmcqa" / f"{split}.json").open("w") as out:
            for row in rows:
                ops = dict(zip(("opa", "opb", "opc", "opd"), row["options"].values(), strict=True))
                cop = "ABCD".index(row["answer_idx"]) + 1  # the release counts from 1
                out.write(
                    json.dumps({"id": row["id"], "question": row["question"], **ops, "cop": cop})
                    + "\n"
                )
    return root


def translate(path: Path, init_from: Path, overrides: list[str] = ()) -> tuple[Any, dict[str, Any]]:  # type: ignore[assignment]
    from biomedlm.finetune.choice.launch import foundry_sections
    from biomedlm.finetune.recipe import FinetuneFacts
    from biomedlm.foundry_config import trainer_settings

    recipe = load_recipe(path, [f"model.init_from={init_from}", *overrides])
    assert isinstance(recipe, FinetuneRecipe)
    facts = FinetuneFacts(init_from, init_from, on_gpu=True, n_positions=1024)
    return recipe, {**trainer_settings(recipe), **foundry_sections(recipe, facts)}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_as_written_translates_passes_llm_foundrys_checks_and_builds(
    path: Path, workdir: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmfoundry.command_utils.train import validate_config
    from llmfoundry.data.dataloader import build_dataloader
    from llmfoundry.utils.builders import build_composer_model, build_tokenizer
    from llmfoundry.utils.config_utils import (
        TRAIN_CONFIG_KEYS,
        TrainConfig,
        make_dataclass_and_log_config,
    )
    from omegaconf import OmegaConf

    monkeypatch.chdir(workdir)
    recipe, cfg = translate(path.relative_to(REPO), tiny_dir)
    _, train_cfg = make_dataclass_and_log_config(
        OmegaConf.create(cfg), TrainConfig, TRAIN_CONFIG_KEYS, transforms="all"
    )
    validate_config(train_cfg)
    assert train_cfg.max_seq_len == recipe.data.max_length
    tokenizer = build_tokenizer(cfg["tokenizer"]["name"], cfg["tokenizer"]["kwargs"])
    model_cfg = dict(cfg["model"])
    model = build_composer_model(model_cfg.pop("name"), model_cfg, tokenizer)
    batch = next(iter(build_dataloader(dict(cfg["train_loader"]), tokenizer, 2).dataloader))
    assert model(batch).shape[0] == 2
    assert "finetune_eval" in cfg["callbacks"] and "finetune_export" in cfg["callbacks"]
    if path in GPU:  # the BioMedLM scripts' settings on GPUs
        assert recipe.precision == "amp_bf16" and recipe.autoresume
        assert recipe.fsdp_config["sharding_strategy"] == "FULL_SHARD"
        assert recipe.fsdp_config["activation_checkpointing"] is True
        assert recipe.scheduler == {
            "name": "linear_decay_with_warmup",
            "t_warmup": "0.5dur",
            "alpha_f": 0.0,
        }
        assert recipe.optimizer["weight_decay"] == 0.0 and recipe.data.max_length == 512
    if path.stem == "medmcqa-medqa":
        assert len(recipe.eval.extra) == 6
        assert {s.group for s in recipe.eval.extra.values()} == {"mmlu_medical"}


def test_the_loaders_pin_memory_on_gpus_and_take_the_recipes_workers(
    workdir: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the pretraining loaders (test_recipes.py): workers as data says, pinned on GPUs."""
    monkeypatch.chdir(workdir)
    medqa = Path("recipes/finetune/medqa.yaml")
    _, cfg = translate(medqa, tiny_dir, ["data.num_workers=2", "data.prefetch_factor=4"])
    for loader in (cfg["train_loader"], cfg["eval_loader"]):
        assert loader["name"] == "biomedlm_choice"
        assert (loader["pin_memory"], loader["num_workers"], loader["prefetch_factor"]) == (
            True, 2, 4,
        )  # fmt: skip
        assert loader["persistent_workers"] is True
    _, cfg = translate(medqa, tiny_dir, ["data.pin_memory=false"])
    assert cfg["train_loader"]["pin_memory"] is False and cfg["train_loader"]["num_workers"] == 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.formt=medqa", "data.formt.*Did you mean.*'format'"),
        ("model.lora={rank: 8}", "model.lora.rank"),
        ("task=classifcation", "task: 'classifcation' is not one of"),
        ("data.cop_base=2", "data.cop_base: must be 0 or 1"),
        ("model.lora={r: 0}", "model.lora.r and model.lora.alpha: must be >= 1"),
        ("callbacks.finetune_export.save_intervl=1ep", "save_intervl.*'save_interval'"),
        ("data.layout=scripts", "data.layout: 'scripts' is not one of"),
        ("data.layout=script", "data.layout: script is a classification layout"),
        ("data.prefetch_factor=2", "data.prefetch_factor: must be null when num_workers is 0"),
        ("data.num_workers=-1", "data.num_workers: must be >= 0"),
    ],
)
def test_typos_fail_when_the_recipe_loads(override: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message) as caught:
        load_recipe(REPO / "recipes" / "finetune" / "medqa.yaml", ["model.init_from=x", override])
    assert "\n" not in str(caught.value)


def test_a_single_file_where_a_list_belongs_is_a_one_item_list() -> None:
    """``data.train=my.jsonl``, as a newcomer types it (strict_config's rule for list keys)."""
    recipe = load_recipe(
        REPO / "recipes" / "finetune" / "medqa.yaml",
        ["model.init_from=x", "data.train=my.jsonl", "model.lora.target_modules=c_attn"],
        components=False,
    )
    assert recipe.data.train == ["my.jsonl"] and recipe.model.lora.target_modules == ["c_attn"]


def test_a_typo_in_an_extra_test_set_fails_naming_it(tmp_path: Path) -> None:
    derived = tmp_path / "mmlu.yaml"
    derived.write_text(
        f"base: {REPO / 'recipes' / 'finetune' / 'medqa.yaml'}\n"
        "eval: {extra: {anatomy: {path: [a.jsonl], format: medqa, subjet: anatomy}}}\n"
    )
    with pytest.raises(RecipeError, match=r"eval.extra.anatomy.subjet.*Did you mean.*'subject'"):
        load_recipe(derived, ["model.init_from=x"])


@pytest.mark.parametrize(
    ("recipe", "overrides", "message"),
    [
        ("medqa", ["task=classification"], "task classification needs files of one label set"),
        ("pubmedqa", ["task=multiple_choice"], "are classification formats"),
        ("medqa", ["fsdp_config.activation_checkpointing_reentrant=true"], "reentrant"),
        ("medqa", ["data.test=[nowhere/*.jsonl]"], "data.test: no file matches nowhere"),
    ],
)
def test_recipes_that_cannot_run_fail_at_launch_in_one_line(
    recipe: str,
    overrides: list[str],
    message: str,
    workdir: Path,
    tiny_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(workdir)
    with pytest.raises(RecipeError, match=message):
        translate(Path("recipes/finetune") / f"{recipe}.yaml", tiny_dir, overrides)


def test_init_from_with_fewer_positions_than_max_length_fails_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from biomedlm.finetune.launch import prepare_finetune
    from tests.fixtures.models import tiny_model
    from tests.fixtures.tokenizers import train_tokenizer

    short = tiny_model(tmp_path / "short", train_tokenizer(tmp_path / "tok"), n_positions=128)
    recipe = load_recipe(
        REPO / "recipes" / "finetune" / "pubmedqa-debug-cpu.yaml",
        [f"model.init_from={short}", f"run_dir={tmp_path / 'run'}"],
    )
    monkeypatch.chdir(REPO)
    with pytest.raises(
        RecipeError,
        match=r"data.max_length: 256 but model.init_from .* has 128 positions; set data.max_length=128",
    ):
        prepare_finetune(recipe)
    assert not (tmp_path / "run" / "tokenizer").exists()
