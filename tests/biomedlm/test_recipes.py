"""Recipes: strict loading to the leaves, every recipe translates as written, bad input fails early."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from biomedlm.recipe import Recipe
from biomedlm.recipe_kinds import load_recipe
from biomedlm.settings import RecipeError
from biomedlm.vocabulary import padded_vocab_size
from tests.fixtures.paths import REPO
from tests.fixtures.runs import data_overrides, run_training

RECIPES = sorted((REPO / "recipes").rglob("*.yaml"))
PRETRAIN = [p for p in RECIPES if "pretrain" in p.parts]
DEBUG = REPO / "recipes" / "pretrain" / "debug-cpu.yaml"
BIG = REPO / "recipes" / "pretrain" / "biomedlm-2.7b.yaml"


def test_there_are_recipes() -> None:
    names = {p.name for p in RECIPES}
    assert {
        "debug-cpu.yaml",
        "biomedlm-2.7b.yaml",
        "biomedlm-125m.yaml",
        "biomedlm-1.3b.yaml",
    } <= names


@pytest.mark.parametrize("path", PRETRAIN, ids=lambda p: p.stem)
def test_every_recipe_as_written_translates_and_passes_llm_foundrys_checks(path: Path) -> None:
    """Exactly as written (GPU recipes too, on CPU): load, translate, llm-foundry's own validation."""
    from llmfoundry.command_utils.train import validate_config
    from llmfoundry.utils.config_utils import (
        TRAIN_CONFIG_KEYS,
        TrainConfig,
        make_dataclass_and_log_config,
    )
    from omegaconf import OmegaConf

    from biomedlm.foundry_config import to_foundry
    from biomedlm.preflight import LaunchFacts

    recipe = load_recipe(path)
    assert isinstance(recipe, Recipe)
    cfg = to_foundry(recipe, LaunchFacts(eos_id=0, n_tokens=28896, on_gpu=True))
    _, train_cfg = make_dataclass_and_log_config(
        OmegaConf.create(cfg), TrainConfig, TRAIN_CONFIG_KEYS, transforms="all"
    )
    validate_config(train_cfg)
    assert train_cfg.max_seq_len == recipe.model.max_seq_len


@pytest.mark.parametrize(("on_gpu", "pinned"), [(True, True), (False, False)])
def test_the_loader_pins_memory_when_training_on_gpus(on_gpu: bool, pinned: bool) -> None:
    from biomedlm.foundry_config import to_foundry
    from biomedlm.preflight import LaunchFacts

    facts = LaunchFacts(eos_id=0, n_tokens=28896, on_gpu=on_gpu)
    cfg = to_foundry(load_recipe(BIG, components=False), facts)
    assert cfg["train_loader"]["pin_memory"] is pinned
    chosen = load_recipe(BIG, ["train_loader.pin_memory=false"], components=False)
    assert to_foundry(chosen, facts)["train_loader"]["pin_memory"] is False  # the recipe's choice


def leaves(tree: object, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        return {
            k: v for key, sub in tree.items() for k, v in leaves(sub, f"{prefix}{key}.").items()
        }
    return {prefix.rstrip("."): tree}


def test_the_debug_recipe_writes_every_output_under_its_run_dir(
    prepared: Path, tmp_path: Path
) -> None:
    """Only ``run_dir`` given: checkpoints, exports, loss curve, stream cache, results under it."""
    from biomedlm.foundry_config import to_foundry
    from biomedlm.preflight import LaunchFacts

    run_dir = tmp_path / "run"
    watcher = (
        "callbacks.gauntlet_watcher={folder: '${run_dir}/hf/huggingface', out: '${run_dir}/eval'}"
    )
    recipe = load_recipe(DEBUG, [*data_overrides(), f"run_dir={run_dir}", watcher])
    read_only = {  # as preflight gives a read-only set: read as a remote through a cache
        "train_loader.pubmed": {
            "remote": str(tmp_path / "data" / ".sets" / "1"),
            "local": f"{run_dir}/stream_cache/train_loader/pubmed/1",
        }
    }
    cfg = to_foundry(
        recipe, LaunchFacts(eos_id=0, n_tokens=28896, on_gpu=False, stream_paths=read_only)
    )
    inputs = {"tokenizer.name", "train_loader.dataset.streams.pubmed.remote",
              "eval_loader.dataset.streams.pubmed.local"}  # fmt: skip
    paths = {k: v for k, v in leaves(cfg).items() if isinstance(v, str) and "/" in v}
    outputs = {k: Path(v) for k, v in paths.items() if k not in inputs}
    assert set(outputs) == {
        "save_folder",
        "callbacks.hf_checkpointer.save_folder",
        "callbacks.loss_curve.folder",
        "callbacks.gauntlet_watcher.folder",
        "callbacks.gauntlet_watcher.out",
        "train_loader.dataset.streams.pubmed.local",  # the cache of read-only shards
    }
    assert all(path.is_relative_to(run_dir) for path in outputs.values()), outputs
    assert Path(recipe.run_dir) == run_dir  # the resolved recipe and launches/ (train.py)


@pytest.mark.parametrize("path", PRETRAIN, ids=lambda p: p.stem)
def test_every_recipes_model_builds_on_meta(path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from biomedlm.model import ARCHITECTURE_DIR, gpt2_overrides

    recipe = load_recipe(path, components=False)
    m = recipe.model
    config = GPT2Config.from_pretrained(ARCHITECTURE_DIR)
    for key, value in gpt2_overrides(
        m.n_layers, m.d_model, m.n_heads, m.max_seq_len, padded_vocab_size(28896), m.dropout
    ).items():
        setattr(config, key, value)
    with torch.device("meta"):
        model = GPT2LMHeadModel(config)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params > 1e6
    if path.stem == "biomedlm-2.7b":
        assert (
            2.55e9 < n_params < 2.65e9
        )  # the paper's 2.7B model counts ~2.59B with tied embeddings
        assert recipe.optimizer["lr"] == 1.6e-4 and recipe.optimizer["weight_decay"] == 1.6e-5
        assert recipe.global_train_batch_size * m.max_seq_len == 1024 * 1024
        assert recipe.max_duration == "300000000000tok"
        assert recipe.fsdp_config["sharding_strategy"] == "FULL_SHARD"
        assert recipe.precision == "amp_bf16" and m.init_device == "meta"


@pytest.mark.parametrize("size", ["125m", "350m", "1.3b"])
def test_ladder_rungs_derive_from_the_base_recipe_with_their_own_budget(size: str) -> None:
    """Same data, FSDP and precision as the 2.7B run; ~20 tokens per parameter, not 300B tokens."""
    from transformers import GPT2Config, GPT2LMHeadModel

    rung = load_recipe(REPO / "recipes" / "pretrain" / "ladder" / f"biomedlm-{size}.yaml")
    big = load_recipe(BIG)
    assert rung.fsdp_config == big.fsdp_config and rung.precision == big.precision
    assert rung.train_loader == big.train_loader and rung.optimizer["name"] == "decoupled_adamw"
    m = rung.model
    config = GPT2Config(n_layer=m.n_layers, n_embd=m.d_model, n_head=m.n_heads,
                        n_positions=m.max_seq_len, vocab_size=padded_vocab_size(28896))  # fmt: skip
    with torch.device("meta"):
        params = sum(p.numel() for p in GPT2LMHeadModel(config).parameters())
    tokens = int(rung.max_duration.removesuffix("tok"))
    assert 15 < tokens / params < 30  # Chinchilla's ~20 tokens per parameter
    assert rung.scheduler["t_warmup"] == "0.01dur" and rung.optimizer["lr"] > big.optimizer["lr"]


TYPOS = [  # each loaded, as a user would type it, and failing with one line naming the key
    (
        "fsdp_config.sharding_stratgy=FULL_SHARD",
        "fsdp_config.sharding_stratgy.*'sharding_strategy'",
    ),
    ("callbacks.hf_checkpointer.save_intervl=10ba", "save_intervl.*'save_interval'"),
    ("callbacks.loss_curve.intervall=10", "callbacks.loss_curve.intervall.*'interval'"),
    ("max_duration=60bx", "max_duration: '60bx' is not a Composer time"),
    ("precision=fp33", "precision: 'fp33' is not one of"),
    ("scheduler.name=cosine_with_warmpu", "scheduler.name.*'cosine_with_warmup'"),
    ("optimizer.name=adamw_typo", "optimizer.name: unknown optimizer 'adamw_typo'"),
    ("optimizer.lr=-1", "optimizer.lr: must be > 0"),
    ("model.n_heads=3", "model.n_heads: 3 does not divide model.d_model 2560"),
    ("optimizer.betas=[0.9]", "optimizer.betas"),
    ("device_train_microbatch_size=[1,2]", "device_train_microbatch_size"),
    (
        "callbacks.hf_checkpointer.save_interval=10bx",
        "save_interval: '10bx' is not a Composer time",
    ),
    ("fsdp_config.sharding_strategy=FULL", "fsdp_config.sharding_strategy: 'FULL' is not one of"),
    ("scheduler.t_warmup=tenba", "scheduler.t_warmup"),
    ("callbacks.no_such_callback={}", "callbacks.no_such_callback: unknown callback"),
    ("algorithms.no_such_algorithm={}", "algorithms.no_such_algorithm: unknown algorithm"),
    ("algorithms.gradient_clipping.clipping_treshold=1", "clipping_treshold.*'clipping_threshold'"),
    ("model.n_layer=4", "model.n_layer.*Did you mean.*n_layers"),
    ("train_loader.streams.abstracts.locl=x", "locl"),
    ("model.n_layers=four", "model.n_layers"),
    ("model.dropout=1.5", "model.dropout: must be in"),
    ("train_loader.prefetch_factor=null", None),
    # values the components check only when built or first used, after launch
    ("callbacks.loss_curve.interval=0", "callbacks.loss_curve.interval: must be >= 1"),
    (
        "callbacks.gauntlet_watcher.tasks=[medqa]",
        "callbacks.gauntlet_watcher.tasks: unknown task 'medqa'",
    ),
    ("callbacks.gauntlet_watcher.device=gpu", "callbacks.gauntlet_watcher.device: 'gpu'"),
    (  # was raised at FIT_START, after the model was built
        "callbacks.gauntlet_watcher.folder=runs/elsewhere",
        r"^.*biomedlm-2.7b.yaml: callbacks.gauntlet_watcher.folder: no checkpointer of this run "
        r"writes runs/elsewhere \(save_folder writes runs/biomedlm-2.7b/checkpoints; "
        r"hf_checkpointer writes runs/biomedlm-2.7b/hf/huggingface\); set folder to one of those$",
    ),
    ("callbacks.gauntlet_watcher.folder=runs/biomedlm-2.7b/checkpoints", None),
    (
        "callbacks.hf_checkpointer.precision=fp33",
        "callbacks.hf_checkpointer.precision: 'fp33' is not one of float32",
    ),
    (
        "callbacks.hf_checkpointer.save_interval=0ba",
        "callbacks.hf_checkpointer.save_interval: '0ba' must be more than zero",
    ),
    ("callbacks.speed_monitor.window_size=-1", "callbacks.speed_monitor.window_size: must be > 0"),
    (
        "algorithms.gradient_clipping.clipping_type=nrm",
        "algorithms.gradient_clipping.clipping_type: 'nrm' is not one of adaptive, norm, value",
    ),
    ("eval_interval=0ba", "eval_interval: '0ba' must be more than zero"),
    ("max_duration=0ba", "max_duration: '0ba' must be more than zero"),
    ("callbacks.hf_checkpointer.precision=float16", None),
]


@pytest.mark.parametrize(("override", "message"), TYPOS, ids=[t[0] for t in TYPOS])
def test_typos_and_bad_values_fail_when_the_recipe_loads(
    override: str, message: str | None
) -> None:
    if message is None:
        load_recipe(BIG, [override])
        return
    with pytest.raises(RecipeError, match=message) as caught:
        load_recipe(BIG, [override])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "overrides",
    [
        ["scheduler={name: constant_with_warmup, t_warmup: 10ba}"],  # no alpha_f: a new component
        ["scheduler={name: linear_decay_with_warmup, t_warmup: 0.1dur, alpha_f: 0.0}"],
        ["optimizer.amsgrad=true"],  # an optimizer's own argument
        ["optimizer={name: decoupled_lionw, lr: 1.0e-5, betas: [0.9, 0.99]}"],
        ["callbacks.hf_checkpointer.save_interval=5000ba"],
    ],
)
def test_valid_llm_foundry_choices_load(overrides: list[str]) -> None:
    load_recipe(BIG, overrides)


@pytest.mark.parametrize(
    ("override", "lr"),
    [
        ("optimizer.lr=1e-05", 1e-5),  # as the sweep writes it (str(1e-05))
        ("optimizer.lr=2e-4", 2e-4),
        ("optimizer={name: decoupled_lionw, lr: 1e-4}", 1e-4),
        ("optimizer.lr=2E+0", 2.0),
    ],
)
def test_learning_rates_without_a_dot_are_numbers(override: str, lr: float) -> None:
    """YAML 1.1 reads ``1e-5`` as a string; the recipe reads it as the file would: a float."""
    assert load_recipe(BIG, [override]).optimizer["lr"] == lr


def test_a_dotted_override_fills_a_section_the_recipe_leaves_null() -> None:
    """The debug recipe has no fsdp_config: a key under it applies, or names the nearest key."""
    recipe = load_recipe(DEBUG, ["fsdp_config.sharding_strategy=FULL_SHARD"])
    assert recipe.fsdp_config == {"sharding_strategy": "FULL_SHARD"}
    with pytest.raises(RecipeError, match=r"fsdp_config.sharding_stratgy: .*'sharding_strategy'"):
        load_recipe(DEBUG, ["fsdp_config.sharding_stratgy=FULL_SHARD"])


def test_a_base_recipes_scheduler_arguments_do_not_leak_into_another_scheduler(
    tmp_path: Path,
) -> None:
    derived = tmp_path / "constant.yaml"
    derived.write_text(
        f"base: {BIG}\nrun_name: constant\nscheduler: {{name: constant_with_warmup, t_warmup: 10ba}}\n"
    )
    assert load_recipe(derived).scheduler == {"name": "constant_with_warmup", "t_warmup": "10ba"}


def test_restating_the_name_in_effect_keeps_the_inherited_arguments(tmp_path: Path) -> None:
    """Only a different name starts a component afresh. The ladder leaves ``name`` out of its
    sections, and restating it counted as a rename: alpha_f, betas, eps, weight_decay dropped."""
    ladder = REPO / "recipes" / "pretrain" / "ladder" / "biomedlm-125m.yaml"
    inherited = load_recipe(ladder)
    same = ["scheduler.name=cosine_with_warmup", "optimizer.name=decoupled_adamw"]
    assert load_recipe(ladder, same).scheduler == inherited.scheduler
    assert load_recipe(ladder, same).optimizer == inherited.optimizer
    (tmp_path / "mid.yaml").write_text(f"base: {BIG}\nrun_name: mid\noptimizer:\n  lr: 6.0e-4\n")
    (tmp_path / "top.yaml").write_text(
        "base: mid.yaml\nrun_name: top\noptimizer:\n  name: decoupled_adamw\n  lr: 1.0e-4\n"
    )
    assert load_recipe(tmp_path / "top.yaml").optimizer == {
        **load_recipe(BIG).optimizer,
        "lr": 1e-4,
    }
    with pytest.raises(RecipeError, match=r"scheduler: missing required argument 't_warmup'"):
        load_recipe(ladder, ["scheduler.name=constant_with_warmup"])  # a new one: nothing kept


def test_a_stream_set_to_null_is_removed_and_a_loader_needs_one(tmp_path: Path) -> None:
    """Streams merge into a base's like components; naming one left the base's in the mix and
    ``streams.X=null`` was refused, so a base's stream could not be removed."""
    from biomedlm.foundry_config import to_foundry
    from biomedlm.preflight import LaunchFacts

    derived = tmp_path / "fulltext-only.yaml"
    derived.write_text(
        f"base: {BIG}\nrun_name: fulltext-only\ntrain_loader:\n  streams:\n    abstracts: null\n"
    )
    facts = LaunchFacts(eos_id=0, n_tokens=28896, on_gpu=False)
    streams = to_foundry(load_recipe(derived), facts)["train_loader"]["dataset"]["streams"]
    assert list(streams) == ["fulltext"] and streams["fulltext"]["proportion"] == 0.5
    removed = load_recipe(
        BIG, ["eval_loader.streams.abstracts=null", "eval_loader.streams.x={local: y}"]
    )
    assert removed.eval_loader is not None and list(removed.eval_loader.read_streams()) == ["x"]
    with pytest.raises(RecipeError) as caught:
        load_recipe(derived, ["train_loader.streams.fulltext=null"])
    assert str(caught.value) == (
        f"{derived}: train_loader.streams: needs at least one stream that is not null"
    )


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_name: x\nmodel:\n  n_layers: 2\n  n_layers: 3\n")
    with pytest.raises(RecipeError, match=r"bad.yaml:4: invalid YAML \(found duplicate key"):
        load_recipe(bad)


def test_machine_checks_happen_at_launch_not_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from biomedlm.preflight import check_machine

    monkeypatch.setenv("WORLD_SIZE", "3")
    recipe = load_recipe(DEBUG)  # loads anywhere
    with pytest.raises(
        RecipeError, match="global_train_batch_size: 8 is not divisible by the world size 3"
    ):
        check_machine(recipe)
    monkeypatch.setenv("WORLD_SIZE", "1")
    if not torch.cuda.is_available():
        with pytest.raises(RecipeError, match=r"precision: amp_bf16 needs a GPU.*precision=fp32"):
            check_machine(load_recipe(BIG))


def run_train(*args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    """The debug recipe on the session's data, through the entry point, as a user runs it."""
    return run_training(
        [sys.executable, "-m", "biomedlm.train", str(DEBUG), *data_overrides(), *args],
        env={"TRANSFORMERS_OFFLINE": "1", **env_vars},
        timeout=600,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


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
        (["tokenizer.path=/nonexistent"], "tokenizer.path: no tokenizer at /nonexistent"),
        (["callbacks.loss_curve.intervall=3"], "callbacks.loss_curve.intervall"),
    ],
)
def test_bad_input_fails_before_training(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process (``main``, what the entry point calls): the subprocess path is the next test's."""
    from biomedlm.train import main

    assert main([str(DEBUG), *data_overrides(), f"run_dir={tmp_path}", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not list(tmp_path.glob("**/*.pt"))  # nothing trained


def test_init_from_weights_of_another_vocabulary_fail_before_training(
    prepared: Path, tmp_path: Path
) -> None:
    from tests.fixtures.models import tiny_model
    from tests.fixtures.tokenizers import train_tokenizer

    small = tiny_model(tmp_path / "small", train_tokenizer(tmp_path / "tok"))  # 1,000 tokens
    result = run_train(f"run_dir={tmp_path / 'run'}", f"model.init_from={small}")
    assert result.returncode == 2
    assert last_line(result).startswith("error: tokenizer.path: ") and (
        f"is another vocabulary than the tokenizer saved with model.init_from ({small})"
        in last_line(result)
    )
    missing = run_train(f"run_dir={tmp_path / 'run'}", f"model.init_from={tmp_path / 'nothing'}")
    assert missing.returncode == 2 and "model.init_from:" in last_line(missing)


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
    result = run_training(
        [
            str(composer),
            "train",
            "recipes/pretrain/debug-cpu.yaml",
            *data_overrides(),
            "max_duration=2ba",
            "eval_interval=2ba",
            "save_interval=2ba",
            f"save_folder={tmp_path / 'ckpt'}",
            f"run_dir={tmp_path / 'run'}",
            f"callbacks.hf_checkpointer.save_folder={tmp_path / 'hf'}",
        ],
        timeout=600,
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
    (params,) = list(store.rglob("params"))  # the hyperparameters reach the logger (log_config)
    logged = {str(p.relative_to(params)): p.read_text() for p in params.rglob("*") if p.is_file()}
    assert "'lr': 0.003" in logged["optimizer"] and logged["max_duration"] == "2ba"

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
