"""Recipes: typed schemas, loaded strictly, every key and value checked before anything is built.

Two kinds share one loader and one set of training settings (:class:`TrainingSettings`):

- a pretraining recipe (:class:`Recipe`): a GPT-2 architecture and MDS shard streams;
- a fine-tuning recipe (:class:`biomedlm.finetune.recipe.FinetuneRecipe`): weights to start from,
  a ``task`` and its ``data`` files. A recipe with a top-level ``task`` key is a fine-tuning one.

A recipe may name a ``base:`` recipe (path relative to itself) that is merged first, so the
scaling ladder and variants derive from one file. ``key=value`` overrides apply last.

Checks, in order, all before any model, data or process group exists:

1. the schema (``strict_config``): unknown keys (with the nearest valid name) and wrong types;
2. values (``__post_init__``): positive sizes, heads that divide the width, Composer time
   strings (``60ba``, ``300000000000tok``) and precisions parsed by Composer itself;
3. components (:mod:`biomedlm.components`): each optimizer, scheduler, callback, algorithm and
   logger named in llm-foundry's registries, its arguments bound to its class's signature, and
   ``fsdp_config`` against Composer's ``FSDPConfig``.

What depends on the machine (world size, a GPU for bf16) or on files (tokenizer, shards, weights)
is checked at launch by :mod:`biomedlm.preflight`, so every recipe loads anywhere as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig

from strict_config import ConfigError, as_plain_dict, load_yaml, merge_structured, parse_value


class RecipeError(ValueError):
    """A recipe that cannot run; one line naming the key and the fix."""


ATTENTION = ("eager", "sdpa", "flash_attention_2")
INIT_DEVICES = ("cpu", "meta", "mixed")


def parse_time(
    key: str, value: str | int, units: tuple[str, ...] | None = None, *, positive: bool = False
) -> Any:
    """``value`` as a Composer ``Time``; a bad string or unit fails naming ``key``.

    ``positive``: zero fails too (an interval or a duration of nothing).
    """
    from composer.core import Time, TimeUnit

    try:
        time = Time.from_input(value, TimeUnit.BATCH)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{key}: {value!r} is not a Composer time ({exc}); e.g. 60ba, 2ep, 300000000000tok"
        ) from None
    if units is not None and time.unit.value not in units:
        raise ValueError(f"{key}: {value!r} has unit {time.unit.value!r}; use one of {units}")
    if time.value < 0:
        raise ValueError(f"{key}: {value!r} is negative")
    if positive and time.value == 0:
        raise ValueError(f"{key}: {value!r} must be more than zero")
    return time


def unset(obj: Any) -> bool:
    """Whether a schema object still has ``MISSING`` fields (a default built for the schema).

    omegaconf builds each section's default while making the schema; its checks run only on the
    real values, when the recipe is turned into objects.
    """
    return any(getattr(obj, f.name) == MISSING for f in fields(obj))


def check_precision(value: str) -> None:
    """``value`` must be one of Composer's ``Precision`` names."""
    from composer.core import Precision

    names = [p.value for p in Precision]
    if value not in names:
        raise ValueError(f"precision: {value!r} is not one of {', '.join(names)}")


@dataclass
class ModelConfig:
    name: str = "biomedlm"
    n_layers: int = MISSING
    d_model: int = MISSING
    n_heads: int = MISSING
    max_seq_len: int = MISSING
    dropout: float = 0.0
    init_from: str | None = None  # a checkpoint (HF folder, Composer file or sharded folder)
    init_device: str = "cpu"  # "meta" for FSDP on GPUs
    attn_implementation: str = "sdpa"
    use_train_metrics: bool = True  # cross-entropy and perplexity of each training batch

    def __post_init__(self) -> None:
        if unset(self):
            return
        for key in ("n_layers", "d_model", "n_heads", "max_seq_len"):
            if getattr(self, key) < 1:
                raise ValueError(f"model.{key}: must be >= 1, got {getattr(self, key)}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"model.n_heads: {self.n_heads} does not divide model.d_model {self.d_model}"
            )
        check_model_common("model", self.dropout, self.init_device, self.attn_implementation)


def check_model_common(where: str, dropout: float, init_device: str, attention: str) -> None:
    """Checks shared by the pretraining and fine-tuning model sections."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{where}.dropout: must be in [0, 1), got {dropout}")
    if init_device not in INIT_DEVICES:
        raise ValueError(f"{where}.init_device: {init_device!r} is not one of {INIT_DEVICES}")
    if attention not in ATTENTION:
        raise ValueError(f"{where}.attn_implementation: {attention!r} is not one of {ATTENTION}")


@dataclass
class TokenizerConfig:
    path: str = MISSING  # a local Hugging Face tokenizer directory (data_prep writes one)


@dataclass
class StreamConfig:
    local: str = MISSING  # folder holding <split>/index.json
    remote: str | None = None  # s3://, gs://, oci://... (then `local` is the cache)
    proportion: float | None = None

    def __post_init__(self) -> None:
        if unset(self):
            return
        if self.proportion is not None and self.proportion <= 0:
            raise ValueError(f"proportion: must be > 0, got {self.proportion}")


@dataclass
class LoaderConfig:
    streams: dict[str, StreamConfig] = MISSING
    split: str = "train"
    shuffle: bool = True
    shuffle_seed: int = 17
    eos_token_id: int | None = None  # checked against the tokenizer
    num_workers: int = 0
    prefetch_factor: int | None = None  # must be null when num_workers is 0
    pin_memory: bool | None = None  # None: on when training on GPUs
    drop_last: bool = True

    def check(self, name: str) -> None:
        if not self.streams:
            raise ValueError(f"{name}.streams: needs at least one stream")
        if self.num_workers < 0:
            raise ValueError(f"{name}.num_workers: must be >= 0")
        if self.num_workers == 0 and self.prefetch_factor is not None:
            raise ValueError(f"{name}.prefetch_factor: must be null when num_workers is 0")


@dataclass
class TrainingSettings:
    """What every recipe has: the optimisation, the trainer's schedule, its components."""

    run_name: str = MISSING
    base: str | None = None
    # component sections: `name` plus the registered class's own arguments (checked against it)
    optimizer: dict[str, Any] = field(default_factory=lambda: {"name": "decoupled_adamw"})
    scheduler: dict[str, Any] = field(default_factory=lambda: {"name": "cosine_with_warmup"})
    # name -> arguments; `name: null` (e.g. the override `callbacks.loss_curve=null`) removes
    # a component that a base recipe has
    algorithms: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    callbacks: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    loggers: dict[str, dict[str, Any] | None] = field(default_factory=dict)
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
        if unset(self):
            return
        if self.global_train_batch_size < 1:
            raise ValueError("global_train_batch_size: must be >= 1")
        micro = self.device_train_microbatch_size
        if micro != "auto" and not (isinstance(micro, int) and not isinstance(micro, bool)):
            raise ValueError(
                f"device_train_microbatch_size: {micro!r} must be a positive integer or 'auto'"
            )
        if isinstance(micro, int) and micro < 1:
            raise ValueError("device_train_microbatch_size: must be >= 1")
        if self.device_eval_batch_size < 1:
            raise ValueError("device_eval_batch_size: must be >= 1")
        check_precision(self.precision)
        parse_time("max_duration", self.max_duration, ("ep", "ba", "tok", "sp"), positive=True)
        for key in ("eval_interval", "save_interval", "console_log_interval"):
            parse_time(key, getattr(self, key), ("ep", "ba", "tok", "sp", "dur"), positive=True)
        if self.eval_subset_num_batches == 0 or self.eval_subset_num_batches < -1:
            raise ValueError("eval_subset_num_batches: must be -1 (all) or >= 1")
        if self.dist_timeout <= 0:
            raise ValueError("dist_timeout: must be > 0 seconds")


@dataclass
class Recipe(TrainingSettings):
    """A pretraining recipe: the architecture and the MDS shard streams it trains on."""

    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    train_loader: LoaderConfig = field(default_factory=LoaderConfig)
    eval_loader: LoaderConfig | None = None

    def __post_init__(self) -> None:
        if unset(self):
            return
        super().__post_init__()
        self.train_loader.check("train_loader")
        if self.eval_loader is not None:
            self.eval_loader.check("eval_loader")


def _layers(path: Path, seen: tuple[Path, ...] = ()) -> list[Any]:
    """The YAML of ``path`` preceded by its ``base:`` chain (bases first)."""
    if not path.is_file():
        raise RecipeError(f"{path}: recipe not found")
    if path.resolve() in seen:
        raise RecipeError(f"{path}: base recipes form a cycle")
    raw = load_yaml(path, error=RecipeError)  # FILE:LINE on a syntax error or duplicate key
    if not isinstance(raw, DictConfig):
        raise RecipeError(f"{path}: a recipe is a mapping of keys, not a list")
    base = raw.get("base")
    parents = _layers((path.parent / base), (*seen, path.resolve())) if base else []
    return [*parents, raw]


COMPONENTS = ("optimizer", "scheduler")  # sections of one named component


def _override_name(item: str, section: str) -> Any:
    """The component name an override ``section.name=X`` or ``section={name: X, ...}`` sets."""
    key, _, value = item.partition("=")
    parsed = parse_value(value) if value else None
    if key.strip() == f"{section}.name":
        return parsed
    if key.strip() == section and isinstance(parsed, dict):
        return parsed.get("name")
    return None


def restart_renamed(layers: list[Any], overrides: list[str] | None) -> list[Any]:
    """A component section whose ``name`` changes starts afresh instead of merging.

    A recipe deriving from a cosine schedule may switch to ``constant_with_warmup``, whose class
    takes no ``alpha_f``: the base's arguments belong to the base's component, not to the new one.
    """
    for section in COMPONENTS:
        names = [
            (i, layer[section].get("name"))
            for i, layer in enumerate(layers)
            if isinstance(layer.get(section), DictConfig)
        ]
        renamed = [
            i
            for (i, name), (_, previous) in zip(names[1:], names, strict=False)
            if name is not None and name != previous
        ]
        last = names[-1][1] if names else None
        overridden = any(
            _override_name(item, section) not in (None, last) for item in overrides or []
        )
        if overridden:
            cut = len(layers)
        elif renamed:
            cut = renamed[-1]
        else:
            continue
        for layer in layers[:cut]:
            if section in layer:
                layer.pop(section)
    return layers


def is_finetune(layers: list[Any], overrides: list[str] | None = None) -> bool:
    """A fine-tuning recipe has a top-level ``task`` key (in a layer or an override)."""
    return any("task" in layer for layer in layers) or any(
        item.partition("=")[0].strip() == "task" for item in overrides or []
    )


def load_recipe(
    path: str | Path, overrides: list[str] | None = None, *, components: bool = True
) -> Any:
    """Load and check a recipe (pretraining or fine-tuning); raises :class:`RecipeError`.

    ``components=False`` skips the registry checks (which import llm-foundry, ~8 s).
    """
    path = Path(path)
    layers = restart_renamed(_layers(path), overrides)
    schema: type[TrainingSettings] = Recipe
    if is_finetune(layers, overrides):
        from biomedlm.finetune.recipe import FinetuneRecipe

        schema = FinetuneRecipe
    try:
        recipe = merge_structured(schema, layers, str(path), overrides, error=RecipeError)
    except ConfigError as exc:
        raise RecipeError(str(exc)) from None
    if components:
        from biomedlm.components import check_components

        try:
            check_components(recipe)
        except ValueError as exc:
            raise RecipeError(f"{path}: {exc}") from None
    return recipe


def resolved(recipe: TrainingSettings) -> dict[str, Any]:
    """The recipe as plain data, interpolations resolved (written into the run folder)."""
    return as_plain_dict(recipe)
