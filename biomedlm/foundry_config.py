"""Translate a checked recipe into llm-foundry's train config: trainer settings and every
kind's data loader sections, from the recipe and :class:`biomedlm.preflight.LaunchFacts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomedlm.preflight import LaunchFacts
from biomedlm.recipe import LoaderConfig, Recipe
from biomedlm.settings import LoaderOptions, TrainingSettings

# the trainer settings llm-foundry takes under the recipe's own names
TRAINER_KEYS = ("run_name", "seed", "optimizer", "scheduler", "algorithms", "callbacks", "loggers",
                "fsdp_config", "precision", "global_train_batch_size",
                "device_train_microbatch_size", "device_eval_batch_size", "max_duration",
                "eval_interval", "eval_subset_num_batches", "save_folder", "save_interval",
                "save_num_checkpoints_to_keep", "autoresume", "progress_bar", "log_to_console",
                "console_log_interval", "dist_timeout")  # fmt: skip


def loader_section(
    name: str, options: LoaderOptions, on_gpu: bool, *, drop_last: bool, **settings: Any
) -> dict[str, Any]:
    """llm-foundry's section for data loader ``name`` (every recipe kind's), read as ``options``
    say; memory pinned on GPUs unless the recipe says otherwise.
    """
    return {
        "name": name,
        **settings,
        "drop_last": drop_last,
        "num_workers": options.num_workers,
        "prefetch_factor": options.prefetch_factor,
        "persistent_workers": options.num_workers > 0,
        "pin_memory": on_gpu if options.pin_memory is None else options.pin_memory,
    }


def tokenizer_section(folder: str | Path, max_length: int) -> dict[str, Any]:
    """llm-foundry's ``tokenizer`` section (every recipe kind's): a local folder."""
    return {"name": str(folder), "kwargs": {"model_max_length": max_length}}


def _loader(key: str, loader: LoaderConfig, max_seq_len: int, facts: LaunchFacts) -> dict[str, Any]:
    streams = {  # each at the set held for the run, a cache for read-only shards (preflight)
        name: {k: v for k, v in vars(stream).items() if v is not None}
        | {"split": loader.split}
        | facts.stream_paths.get(f"{key}.{name}", {})
        for name, stream in loader.read_streams().items()
    }
    dataset = {
        "streams": streams,
        "max_seq_len": max_seq_len,
        "shuffle": loader.shuffle,
        "shuffle_seed": loader.shuffle_seed,
        "eos_token_id": facts.eos_id,
    }
    return loader_section("text", loader, facts.on_gpu, drop_last=loader.drop_last, dataset=dataset)


def enabled(section: dict[str, dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """A component section without the entries a recipe removed (``name: null``)."""
    return {name: dict(args) for name, args in section.items() if args is not None}


def trainer_settings(recipe: TrainingSettings) -> dict[str, Any]:
    """The llm-foundry keys every recipe kind shares (optimisation, schedule, components)."""
    cfg = {key: getattr(recipe, key) for key in TRAINER_KEYS}
    cfg.update(  # copies, in place: the keys keep their order
        optimizer=dict(recipe.optimizer),
        scheduler=dict(recipe.scheduler),
        algorithms=enabled(recipe.algorithms),
        callbacks=enabled(recipe.callbacks),
        loggers=enabled(recipe.loggers),
        fsdp_config=dict(recipe.fsdp_config) if recipe.fsdp_config is not None else None,
    )
    # log_config: hyperparameters reach MLflow / W&B / TensorBoard
    return {**cfg, "python_log_level": "info", "log_config": True}


def to_foundry(recipe: Recipe, facts: LaunchFacts) -> dict[str, Any]:
    """llm-foundry's train config for a pretraining ``recipe``."""
    seq = recipe.model.max_seq_len
    model = dict(vars(recipe.model))
    if facts.init_from is not None:
        model["init_from"] = facts.init_from
    cfg: dict[str, Any] = {
        **trainer_settings(recipe),
        "max_seq_len": seq,
        "model": model,
        "tokenizer": tokenizer_section(facts.tokenizer or recipe.tokenizer.path, seq),
        "train_loader": _loader("train_loader", recipe.train_loader, seq, facts),
    }
    if recipe.eval_loader is not None:
        cfg["eval_loader"] = _loader("eval_loader", recipe.eval_loader, seq, facts)
    return cfg
