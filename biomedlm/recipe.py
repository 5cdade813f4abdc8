"""A pretraining recipe: a typed schema, loaded strictly, checked before anything is built.

A recipe may name a ``base:`` recipe (path relative to itself) that is merged first, so the
scaling ladder and variants derive from one file. ``key=value`` overrides apply last. The
recipe is translated into llm-foundry's train config (:func:`to_foundry`), whose builders and
registries make the model, data, optimizer, callbacks, algorithms and loggers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from strict_config import ConfigError, as_plain_dict, merge_structured


class RecipeError(ValueError):
    """A recipe that cannot run; one line naming the key and the fix."""


@dataclass
class ModelConfig:
    name: str = "biomedlm"
    n_layers: int = MISSING
    d_model: int = MISSING
    n_heads: int = MISSING
    max_seq_len: int = MISSING
    dropout: float = 0.0
    init_from: str | None = None  # a local Hugging Face directory (continued pretraining)
    init_device: str = "cpu"  # "meta" for FSDP on GPUs
    attn_implementation: str = "sdpa"
    use_train_metrics: bool = True  # cross-entropy and perplexity of each training batch


@dataclass
class TokenizerConfig:
    path: str = MISSING  # a local Hugging Face tokenizer directory (data_prep writes one)


@dataclass
class StreamConfig:
    local: str = MISSING  # folder holding <split>/index.json
    remote: str | None = None  # s3://, gs://, oci://... (then `local` is the cache)
    proportion: float | None = None


@dataclass
class LoaderConfig:
    streams: dict[str, StreamConfig] = MISSING
    split: str = "train"
    shuffle: bool = True
    shuffle_seed: int = 17
    eos_token_id: int | None = None  # checked against the tokenizer
    num_workers: int = 0
    prefetch_factor: int | None = None  # must be null when num_workers is 0
    drop_last: bool = True


@dataclass
class OptimizerConfig:
    name: str = "decoupled_adamw"
    lr: float = MISSING
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass
class SchedulerConfig:
    name: str = "cosine_with_warmup"
    t_warmup: str = "100ba"
    alpha_f: float = 0.1


@dataclass
class Recipe:
    run_name: str = MISSING
    base: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    train_loader: LoaderConfig = field(default_factory=LoaderConfig)
    eval_loader: LoaderConfig | None = None
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    algorithms: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    loggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    fsdp_config: dict[str, Any] | None = None
    precision: str = "amp_bf16"
    global_train_batch_size: int = MISSING
    device_train_microbatch_size: Any = "auto"
    device_eval_batch_size: int = 8
    max_duration: str = MISSING
    eval_interval: str = "1000ba"
    eval_subset_num_batches: int = -1
    save_folder: str | None = None
    save_interval: str = "1000ba"
    save_num_checkpoints_to_keep: int = -1
    autoresume: bool = False
    seed: int = 17
    progress_bar: bool = True
    log_to_console: bool = False
    console_log_interval: str = "10ba"
    dist_timeout: float = 600.0
    run_dir: str = "runs/${run_name}"

    def __post_init__(self) -> None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if self.global_train_batch_size % world:
            raise ValueError(
                f"global_train_batch_size: {self.global_train_batch_size} is not divisible by "
                f"the world size {world}; use a multiple of {world}"
            )
        if self.precision.startswith("amp_") and not _cuda_available():
            raise ValueError(
                f"precision: {self.precision} needs a GPU and none is visible; use precision=fp32 on CPU"
            )
        for name, loader in (
            ("train_loader", self.train_loader),
            ("eval_loader", self.eval_loader),
        ):
            if (
                loader is not None
                and loader.num_workers == 0
                and loader.prefetch_factor is not None
            ):
                raise ValueError(f"{name}.prefetch_factor: must be null when num_workers is 0")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _layers(path: Path, seen: tuple[Path, ...] = ()) -> list[Any]:
    """The YAML of ``path`` preceded by its ``base:`` chain (bases first)."""
    if not path.is_file():
        raise RecipeError(f"{path}: recipe not found")
    if path.resolve() in seen:
        raise RecipeError(f"{path}: base recipes form a cycle")
    raw = OmegaConf.load(path)
    if not isinstance(raw, DictConfig):
        raise RecipeError(f"{path}: a recipe is a mapping of keys, not a list")
    base = raw.get("base")
    parents = _layers((path.parent / base), (*seen, path.resolve())) if base else []
    return [*parents, raw]


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load and check a recipe; raises :class:`RecipeError` with one line naming the key."""
    path = Path(path)
    try:
        return merge_structured(Recipe, _layers(path), str(path), overrides, error=RecipeError)
    except ConfigError as exc:
        raise RecipeError(str(exc)) from None


def resolved(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain data, interpolations resolved (written into the run folder)."""
    return as_plain_dict(recipe)
