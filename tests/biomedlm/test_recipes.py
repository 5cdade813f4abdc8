"""Recipes: strict loading, every recipe builds, bad input fails before training with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from biomedlm.model import padded_vocab_size
from biomedlm.recipe import RecipeError, load_recipe

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "recipes").rglob("*.yaml"))
DEBUG = REPO / "recipes" / "pretrain" / "debug-cpu.yaml"
GPU_ONLY = ["precision=fp32"]  # GPU recipes are checked on CPU with their precision lowered


def test_there_are_recipes() -> None:
    names = {p.name for p in RECIPES}
    assert {
        "debug-cpu.yaml",
        "biomedlm-2.7b.yaml",
        "biomedlm-125m.yaml",
        "biomedlm-1.3b.yaml",
    } <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_loads_and_its_model_builds_on_meta(path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from biomedlm.model import ARCHITECTURE_DIR, gpt2_overrides

    recipe = load_recipe(path, GPU_ONLY)
    m = recipe.model
    config = GPT2Config.from_pretrained(ARCHITECTURE_DIR)
    for key, value in gpt2_overrides(
        m.n_layers, m.d_model, m.n_heads, m.max_seq_len, padded_vocab_size(28896), m.dropout
    ).items():
        setattr(config, key, value)
    with torch.device("meta"):
        model = GPT2LMHeadModel(config)
    n_params = sum(p.numel() for p in model.parameters())
    assert m.d_model % m.n_heads == 0 and n_params > 1e6
    if path.stem == "biomedlm-2.7b":
        assert (
            2.55e9 < n_params < 2.65e9
        )  # the paper's 2.7B model counts ~2.59B with tied embeddings
        assert recipe.optimizer.lr == 1.6e-4 and recipe.optimizer.weight_decay == 1.6e-5
        assert recipe.global_train_batch_size * m.max_seq_len == 1024 * 1024
        assert (
            recipe.max_duration == "300000000000tok"
            and recipe.fsdp_config["sharding_strategy"] == "FULL_SHARD"
        )


def test_ladder_derives_from_the_base_recipe() -> None:
    small = load_recipe(REPO / "recipes" / "pretrain" / "ladder" / "biomedlm-125m.yaml", GPU_ONLY)
    big = load_recipe(REPO / "recipes" / "pretrain" / "biomedlm-2.7b.yaml", GPU_ONLY)
    assert (
        small.model.n_layers == 12
        and small.optimizer == big.optimizer
        and small.fsdp_config == big.fsdp_config
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["model.n_layer=4"], "model.n_layer.*Did you mean.*n_layers"),
        (["train_loader.streams.pubmed.locl=x"], "locl"),
        (["model.n_layers=four"], "model.n_layers"),
        (["precision=amp_bf16"], "precision: amp_bf16 needs a GPU.*precision=fp32"),
        (["train_loader.prefetch_factor=2"], "train_loader.prefetch_factor: must be null"),
    ],
)
def test_bad_recipes_fail_naming_the_key(override: list[str], message: str) -> None:
    if "bf16" in override[0] and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(RecipeError, match=message):
        load_recipe(DEBUG, override)


def test_batch_not_divisible_by_world_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(
        RecipeError, match="global_train_batch_size: 8 is not divisible by the world size 3"
    ):
        load_recipe(DEBUG)


def run_train(*args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env_vars}
    return subprocess.run(
        [sys.executable, "-m", "biomedlm.train", str(DEBUG), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train_loader.streams.pubmed.local=/nonexistent"],
            "train_loader.streams.pubmed.local: no MDS shards at /nonexistent/train",
        ),
        (
            ["train_loader.eos_token_id=7"],
            "train_loader.eos_token_id: 7 but the tokenizer's EOS id is 0",
        ),
        (["callbacks.no_such_callback={}"], "callbacks.no_such_callback: unknown callback"),
        (["algorithms.no_such_algorithm={}"], "algorithms.no_such_algorithm: unknown algorithm"),
        (["tokenizer.path=/nonexistent"], "tokenizer.path: no tokenizer at /nonexistent"),
    ],
)
def test_bad_input_fails_before_training(prepared: Path, args: list[str], message: str) -> None:
    result = run_train(*args)
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1] == f"error: {message}"
        or message in result.stderr.strip().splitlines()[-1]
    )


def test_init_from_weights_with_a_smaller_vocabulary_fails_before_training(
    prepared: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from tests.eval_gauntlet.tiny import tiny_model, train_tokenizer

    n_tokens = len(AutoTokenizer.from_pretrained(prepared / "tokenizer"))
    small = tiny_model(tmp_path / "small", train_tokenizer(tmp_path / "tok"))  # 1,000 tokens
    result = run_train(f"model.init_from={small}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: model.init_from: {small} has 1000 embedding rows but the tokenizer at "
        f"outputs/prep/sample/tokenizer has {n_tokens} tokens; use the weights' own tokenizer "
        f"(tokenizer.path={small})"
    )
    missing = run_train(f"model.init_from={tmp_path / 'nothing'}")
    assert missing.returncode == 2 and "model.init_from: no Hugging Face model" in missing.stderr


def test_debug_recipe_trains_and_lowers_the_loss(prepared: Path, tmp_path: Path) -> None:
    result = run_train(
        "max_duration=12ba",
        "eval_interval=12ba",
        "save_interval=12ba",
        f"save_folder={tmp_path / 'ckpt'}",
        f"run_dir={tmp_path / 'run'}",
        "progress_bar=false",
        "log_to_console=true",
        "console_log_interval=1ba",
        "optimizer.lr=0.006",
        "scheduler.t_warmup=2ba",
        f"callbacks.hf_checkpointer.save_folder={tmp_path / 'hf'}",
        "callbacks.hf_checkpointer.save_interval=12ba",
        f"callbacks.loss_curve.folder={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    losses = [
        float(line.rsplit(":", 1)[1])
        for line in result.stdout.splitlines() + result.stderr.splitlines()
        if "loss/train/total:" in line
    ]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    assert (tmp_path / "ckpt" / "ep0-ba12-rank0.pt").is_file() and (
        tmp_path / "run" / "recipe.yaml"
    ).is_file()

    export = tmp_path / "hf" / "huggingface" / "ba12"
    continued = run_train(
        "max_duration=1ba",
        f"model.init_from={export}",
        f"save_folder={tmp_path / 'ckpt2'}",
        f"run_dir={tmp_path / 'run2'}",
        "progress_bar=false",
        "log_to_console=true",
        "console_log_interval=1ba",
        f"callbacks.hf_checkpointer.save_folder={tmp_path / 'hf2'}",
        f"callbacks.loss_curve.folder={tmp_path / 'run2'}",
        "autoresume=false",
    )
    assert continued.returncode == 0, continued.stderr[-2000:]
    (first,) = [
        float(line.rsplit(":", 1)[1])
        for line in (continued.stdout + continued.stderr).splitlines()
        if "loss/train/total:" in line
    ]
    assert (
        first < losses[0] - 0.5
    )  # continued pretraining starts from the trained weights, not from scratch
    check_hf_export_matches_the_checkpoint(
        tmp_path / "ckpt" / "ep0-ba12-rank0.pt", tmp_path / "hf" / "huggingface" / "ba12"
    )


def check_hf_export_matches_the_checkpoint(ckpt: Path, hf_dir: Path) -> None:
    """The Hugging Face export loads offline and gives the Composer checkpoint's logits."""
    from biomedlm.generate import generate

    greedy = generate(ckpt, "Aspirin inhibits", max_new_tokens=8, temperature=0)
    assert greedy.startswith("Aspirin inhibits") and len(greedy) > len("Aspirin inhibits")
    assert generate(hf_dir, "Aspirin inhibits", max_new_tokens=8, temperature=0) == greedy
    from transformers import AutoModelForCausalLM, AutoTokenizer

    exported = AutoModelForCausalLM.from_pretrained(hf_dir, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state"]["model"]
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    reference = type(exported)(exported.config).eval()
    missing, unexpected = reference.load_state_dict(weights, strict=False)
    assert not unexpected and all("attn.bias" in k or "lm_head" in k for k in missing)
    ids = tokenizer("Aspirin inhibits cyclooxygenase in platelets.", return_tensors="pt")[
        "input_ids"
    ]
    with torch.no_grad():
        torch.testing.assert_close(exported(ids).logits, reference(ids).logits)


@pytest.mark.slow
def test_composer_launcher_runs_the_recipe_literally(prepared: Path, tmp_path: Path) -> None:
    composer = Path(sys.executable).with_name("composer")
    result = subprocess.run(
        [
            str(composer),
            "train",
            "recipes/pretrain/debug-cpu.yaml",
            "max_duration=2ba",
            "eval_interval=2ba",
            "save_interval=2ba",
            f"save_folder={tmp_path / 'ckpt'}",
            f"run_dir={tmp_path / 'run'}",
            f"callbacks.hf_checkpointer.save_folder={tmp_path / 'hf'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "ckpt" / "ep0-ba2-rank0.pt").is_file()


@pytest.mark.slow
def test_loggers_selected_in_yaml_record_the_loss(prepared: Path, tmp_path: Path) -> None:
    """MLflow (a local store), TensorBoard and W&B (offline), all named in the recipe's YAML."""
    store, boards, wandb_dir = tmp_path / "mlruns", tmp_path / "tb", tmp_path / "wandb"
    wandb_dir.mkdir()
    result = run_train(
        "max_duration=2ba",
        f"save_folder={tmp_path / 'ckpt'}",
        f"run_dir={tmp_path / 'run'}",
        f"callbacks.hf_checkpointer.save_folder={tmp_path / 'hf'}",
        f"callbacks.loss_curve.folder={tmp_path / 'run'}",
        f"loggers.mlflow={{tracking_uri: 'file:{store}', experiment_name: biomedlm-test}}",
        f"loggers.tensorboard={{log_dir: '{boards}', flush_interval: 1}}",
        f"loggers.wandb={{project: biomedlm-test, init_kwargs: {{dir: '{wandb_dir}'}}}}",
        "autoresume=false",
        WANDB_MODE="offline",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = list(store.rglob("metrics/loss/train/total"))
    assert len(metrics) == 1 and len(metrics[0].read_text().splitlines()) == 2

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps = []  # Composer reopens its writer after each flush: several event files
    for folder in {events.parent for events in boards.rglob("events.out.tfevents.*")}:
        board = EventAccumulator(str(folder))
        board.Reload()
        if "loss/train/total" in board.Tags()["scalars"]:
            steps += [e.step for e in board.Scalars("loss/train/total")]
    assert sorted(steps) == [0, 1]  # one point per batch (Composer counts from 0 here)

    (run_log,) = list(wandb_dir.rglob("offline-run-*/run-*.wandb"))
    assert b"loss/train/total" in run_log.read_bytes()  # W&B's offline record, for `wandb sync`
