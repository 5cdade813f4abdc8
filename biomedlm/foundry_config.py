"""Translate a checked :class:`Recipe` into llm-foundry's train config, after checks that need files.

llm-foundry's ``train`` then builds everything through its registries and builders; this module
only checks what would otherwise fail late (missing shards, EOS mismatch, unknown component
names) and maps the typed recipe onto llm-foundry's keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biomedlm.recipe import LoaderConfig, Recipe, RecipeError


def _check_names(recipe: Recipe) -> None:
    from llmfoundry import registry

    for section, reg in (
        ("algorithms", registry.algorithms),
        ("callbacks", registry.callbacks),
        ("loggers", registry.loggers),
    ):
        known = set(reg.get_all())
        for name in getattr(recipe, section):
            if name not in known:
                raise RecipeError(
                    f"{section}.{name}: unknown {section[:-1]}; known: {', '.join(sorted(known))}"
                )
    if recipe.model.name not in registry.models.get_all():
        raise RecipeError(f"model.name: unknown model {recipe.model.name!r}")


def _check_loader(key: str, loader: LoaderConfig, eos_id: int) -> None:
    for name, stream in loader.streams.items():
        if (
            stream.remote is None
            and not (Path(stream.local) / loader.split / "index.json").is_file()
        ):
            raise RecipeError(
                f"{key}.streams.{name}.local: no MDS shards at {Path(stream.local) / loader.split}; "
                "run `make prep-data` (or point it at a prepared folder)"
            )
    if loader.eos_token_id is not None and loader.eos_token_id != eos_id:
        raise RecipeError(
            f"{key}.eos_token_id: {loader.eos_token_id} but the tokenizer's EOS id is {eos_id}; "
            f"set {key}.eos_token_id={eos_id}"
        )


def _check_init_from(recipe: Recipe, n_tokens: int) -> None:
    """Weights to start from must exist and have an embedding row for every token."""
    source = recipe.model.init_from
    if source is None:
        return
    config_path = Path(source) / "config.json"
    if not config_path.is_file():
        raise RecipeError(f"model.init_from: no Hugging Face model at {source} (no config.json)")
    rows = json.loads(config_path.read_text()).get("vocab_size", 0)
    if n_tokens > rows:
        raise RecipeError(
            f"model.init_from: {source} has {rows} embedding rows but the tokenizer at "
            f"{recipe.tokenizer.path} has {n_tokens} tokens; use the weights' own tokenizer "
            f"(tokenizer.path={source})"
        )


def _loader(loader: LoaderConfig, max_seq_len: int, eos_id: int) -> dict[str, Any]:
    streams = {
        name: {k: v for k, v in vars(s).items() if v is not None} | {"split": loader.split}
        for name, s in loader.streams.items()
    }
    return {
        "name": "text",
        "dataset": {
            "streams": streams,
            "max_seq_len": max_seq_len,
            "shuffle": loader.shuffle,
            "shuffle_seed": loader.shuffle_seed,
            "eos_token_id": eos_id,
        },
        "drop_last": loader.drop_last,
        "num_workers": loader.num_workers,
        "prefetch_factor": loader.prefetch_factor,
        "persistent_workers": loader.num_workers > 0,
        "pin_memory": False,
    }


def to_foundry(recipe: Recipe) -> dict[str, Any]:
    """llm-foundry's train config for ``recipe``; raises RecipeError on files that do not fit."""
    from transformers import AutoTokenizer

    tok_dir = Path(recipe.tokenizer.path)
    if not (tok_dir / "tokenizer_config.json").is_file():
        raise RecipeError(f"tokenizer.path: no tokenizer at {tok_dir}; run `make prep-data`")
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    eos_id = tokenizer.eos_token_id
    _check_loader("train_loader", recipe.train_loader, eos_id)
    if recipe.eval_loader is not None:
        _check_loader("eval_loader", recipe.eval_loader, eos_id)
    _check_names(recipe)
    _check_init_from(recipe, len(tokenizer))
    model = {k: v for k, v in vars(recipe.model).items()}
    seq = recipe.model.max_seq_len
    callbacks = {name: dict(args) for name, args in recipe.callbacks.items()}
    if "gauntlet_watcher" in callbacks:  # tokens seen by each HF export, from this recipe's batch
        callbacks["gauntlet_watcher"].setdefault(
            "tokens_per_step", recipe.global_train_batch_size * seq
        )
    cfg: dict[str, Any] = {
        "run_name": recipe.run_name,
        "seed": recipe.seed,
        "max_seq_len": seq,
        "model": model,
        "tokenizer": {"name": str(tok_dir), "kwargs": {"model_max_length": seq}},
        "train_loader": _loader(recipe.train_loader, seq, eos_id),
        "optimizer": dict(vars(recipe.optimizer)),
        "scheduler": dict(vars(recipe.scheduler)),
        "algorithms": recipe.algorithms,
        "callbacks": callbacks,
        "loggers": recipe.loggers,
        "fsdp_config": recipe.fsdp_config,
        "precision": recipe.precision,
        "global_train_batch_size": recipe.global_train_batch_size,
        "device_train_microbatch_size": recipe.device_train_microbatch_size,
        "device_eval_batch_size": recipe.device_eval_batch_size,
        "max_duration": recipe.max_duration,
        "eval_interval": recipe.eval_interval,
        "eval_subset_num_batches": recipe.eval_subset_num_batches,
        "save_folder": recipe.save_folder,
        "save_interval": recipe.save_interval,
        "save_num_checkpoints_to_keep": recipe.save_num_checkpoints_to_keep,
        "autoresume": recipe.autoresume,
        "progress_bar": recipe.progress_bar,
        "log_to_console": recipe.log_to_console,
        "console_log_interval": recipe.console_log_interval,
        "dist_timeout": recipe.dist_timeout,
        "python_log_level": "info",
        "log_config": False,
    }
    if recipe.eval_loader is not None:
        cfg["eval_loader"] = _loader(recipe.eval_loader, seq, eos_id)
    return cfg
