"""What every recipe kind shares: the training settings, loader options, and their checks
(the keys: docs/pretraining.md, docs/fine-tuning.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import MISSING

from biomedlm.attention import ATTENTION


class RecipeError(ValueError):
    """A recipe that cannot run; one line naming the key and the fix."""


INIT_DEVICES = ("cpu", "meta", "mixed")


def parse_time(
    key: str, value: str | int, units: tuple[str, ...] | None = None, *, positive: bool = False
) -> Any:
    """``value`` as a Composer ``Time``; a bad string or unit (or zero, when ``positive``) fails
    naming ``key``.
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
    """Whether a schema object still has ``MISSING`` fields: omegaconf builds each section's
    default while making the schema, and checks run only on the real values.
    """
    return any(getattr(obj, f.name) == MISSING for f in fields(obj))


def check_model_common(where: str, dropout: float, init_device: str, attention: str) -> None:
    """Checks shared by the pretraining and fine-tuning model sections."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{where}.dropout: must be in [0, 1), got {dropout}")
    if init_device not in INIT_DEVICES:
        raise ValueError(f"{where}.init_device: {init_device!r} is not one of {INIT_DEVICES}")
    if attention not in ATTENTION:
        raise ValueError(f"{where}.attn_implementation: {attention!r} is not one of {ATTENTION}")


@dataclass
class LoaderOptions:
    """How a data loader reads: pretraining's loaders and a fine-tune's ``data`` alike."""

    num_workers: int = 0
    prefetch_factor: int | None = None  # must be null when num_workers is 0
    pin_memory: bool | None = None  # None: on when training on GPUs

    def check_options(self, where: str) -> None:
        if self.num_workers < 0:
            raise ValueError(f"{where}.num_workers: must be >= 0")
        if self.num_workers == 0 and self.prefetch_factor is not None:
            raise ValueError(f"{where}.prefetch_factor: must be null when num_workers is 0")


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
        from composer.core import Precision

        precisions = [p.value for p in Precision]  # Composer's names
        if self.precision not in precisions:
            raise ValueError(f"precision: {self.precision!r} is not one of {', '.join(precisions)}")
        parse_time("max_duration", self.max_duration, ("ep", "ba", "tok", "sp"), positive=True)
        for key in ("eval_interval", "save_interval", "console_log_interval"):
            parse_time(key, getattr(self, key), ("ep", "ba", "tok", "sp", "dur"), positive=True)
        if self.eval_subset_num_batches == 0 or self.eval_subset_num_batches < -1:
            raise ValueError("eval_subset_num_batches: must be -1 (all) or >= 1")
        if self.dist_timeout <= 0:
            raise ValueError("dist_timeout: must be > 0 seconds")
