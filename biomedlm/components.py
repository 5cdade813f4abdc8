"""Check a recipe's components against what llm-foundry and Composer will build from them.

llm-foundry passes its untyped sections on as keyword arguments, so a misspelled argument
surfaces as a traceback after the model is built. Here each component is looked up in the
registries and its arguments bound to its class's signature, nothing constructed. A component
may define classmethods ``validate(**kwargs)`` and ``validate_folders(writers, **kwargs)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from biomedlm.settings import TrainingSettings, parse_time
from biomedlm.trained.names import composer_folder

# arguments the builders fill in themselves, never given in a recipe
INJECTED = {"params", "train_config", "self"}
SHARDING = ("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "_HYBRID_SHARD_ZERO2")
FSDP_CHOICES = {
    "sharding_strategy": SHARDING,
    "mixed_precision": ("DEFAULT", "PURE", "FULL"),
    "state_dict_type": ("full", "sharded", "local"),
    "backward_prefetch": ("BACKWARD_PRE", "BACKWARD_POST", "NONE"),
}


def _nearest(name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; valid: {', '.join(sorted(valid))}"


def _hints(target: Callable[..., Any]) -> dict[str, Any]:
    """Resolved annotations of ``target``'s parameters, where they can be resolved."""
    init = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
    try:
        return typing.get_type_hints(init)
    except Exception:  # unresolvable forward references: check names only
        return {}


def _is_interval(key: str, value: Any) -> bool:
    """An integer interval (batches), which must be positive like an interval's time string."""
    return key.endswith("interval") and isinstance(value, int) and not isinstance(value, bool)


def _matches(value: Any, hint: Any, key: str) -> bool:
    """Whether ``value`` fits annotation ``hint`` (unknown annotations accept anything)."""
    from composer.core import Time

    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        if Time in args and (isinstance(value, str) or _is_interval(key, value)):
            return _matches(value, Time, key)  # a time, not any string
        return any(_matches(value, arg, key) for arg in args)
    if hint is type(None):
        return value is None
    if hint is Time:
        parse_time(key, value, positive=key.endswith("interval"))  # raises naming the key
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return isinstance(value, (list, tuple)) and len(value) == len(args)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        return isinstance(value, (list, tuple)) and not isinstance(value, str)
    if origin in (dict, Mapping) or hint is dict:
        return isinstance(value, Mapping)
    return True


def bind(where: str, target: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """Bind ``kwargs`` to ``target``'s signature; one line naming ``where.key`` on a mismatch."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return
    params = {n: p for n, p in signature.parameters.items() if n not in INJECTED}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for key in kwargs:
        if key not in params and not takes_any:
            raise ValueError(f"{where}.{key}: not an argument of {where}{_nearest(key, named)}")
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and n not in kwargs
    ]
    if missing:
        raise ValueError(f"{where}: missing required argument {missing[0]!r}")
    hints = _hints(target)
    for key, value in kwargs.items():
        hint = hints.get(key, params[key].annotation if key in params else Any)
        if isinstance(hint, str):  # an unresolved annotation: not checked
            continue
        if not _matches(value, hint, f"{where}.{key}"):
            raise ValueError(f"{where}.{key}: {value!r} does not fit the expected type {hint}")


def _choice(*choices: str) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{key}: {value!r} is not one of {', '.join(choices)}")

    return check


def _positive(key: str, value: Any) -> None:
    if value <= 0:
        raise ValueError(f"{key}: must be > 0, got {value!r}")


# (module, class, argument) -> check: values a class of llm-foundry or Composer documents but
# checks only when built or used, after launch; subclasses (``finetune_export``) inherit them
VALUE_CHECKS: tuple[tuple[str, str, str, Callable[[str, Any], None]], ...] = (
    ("llmfoundry.callbacks", "HuggingFaceCheckpointer", "precision",
     _choice("float32", "float16", "bfloat16")),
    ("composer.callbacks", "SpeedMonitor", "window_size", _positive),
    ("composer.callbacks", "SpeedMonitor", "time_unit",
     _choice("seconds", "minutes", "hours", "days")),
    ("composer.algorithms", "GradientClipping", "clipping_type",
     _choice("adaptive", "norm", "value")),
    ("composer.algorithms", "GradientClipping", "clipping_threshold", _positive),
)  # fmt: skip


def check_values(where: str, target: Any, kwargs: Mapping[str, Any]) -> None:
    """The checks a component's class makes late, made now: its ``validate``, :data:`VALUE_CHECKS`."""
    if not isinstance(target, type):
        return
    if isinstance(inspect.getattr_static(target, "validate", None), classmethod):
        try:
            target.validate(**kwargs)  # type: ignore[attr-defined]
        except ValueError as exc:  # its message names `<name>.<argument>`, or only the problem
            raise _one_line(where, exc) from None
    for module, cls_name, arg, check in VALUE_CHECKS:
        if arg in kwargs and issubclass(target, getattr(importlib.import_module(module), cls_name)):
            check(f"{where}.{arg}", kwargs[arg])


def _one_line(where: str, exc: ValueError) -> ValueError:
    """A component's own error as one line naming ``where`` (``section.name``) and the key."""
    section, _, name = where.rpartition(".")
    message = str(exc).splitlines()[0]
    return ValueError(
        f"{section}.{message}" if message.startswith(f"{name}.") else f"{where}: {message}"
    )


def _section(where: str, registry: Any, entries: Mapping[str, Mapping[str, Any] | None]) -> None:
    known = list(registry.get_all())
    for name, kwargs in entries.items():
        if kwargs is None:  # removed by the recipe
            continue
        if name not in known:
            raise ValueError(f"{where}.{name}: unknown {where.rstrip('s')}{_nearest(name, known)}")
        target = registry.get(name)
        bind(f"{where}.{name}", target, dict(kwargs or {}))
        check_values(f"{where}.{name}", target, dict(kwargs or {}))


def _named(where: str, registry: Any, section: Mapping[str, Any]) -> dict[str, Any]:
    """A ``{name: ..., **args}`` section: the name checked, the arguments returned."""
    args = dict(section)
    name = args.pop("name", None)
    known = list(registry.get_all())
    if name not in known:
        raise ValueError(f"{where}.name: unknown {where} {name!r}{_nearest(str(name), known)}")
    bind(where, registry.get(name), args)
    return args


def check_optimizer(section: Mapping[str, Any]) -> None:
    """The optimizer's name and arguments, and the values every optimizer needs."""
    from llmfoundry import registry

    args = _named("optimizer", registry.optimizers, section)
    if "lr" not in args:
        raise ValueError("optimizer.lr: required (the peak learning rate)")
    if not isinstance(args["lr"], (int, float)) or args["lr"] <= 0:
        raise ValueError(f"optimizer.lr: must be > 0, got {args['lr']!r}")
    betas = args.get("betas")
    if betas is not None and (
        len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)
    ):
        raise ValueError(f"optimizer.betas: need two values in [0, 1), got {list(betas)}")
    if args.get("eps", 1.0) <= 0:
        raise ValueError("optimizer.eps: must be > 0")
    if args.get("weight_decay", 0.0) < 0:
        raise ValueError("optimizer.weight_decay: must be >= 0")


def check_scheduler(section: Mapping[str, Any]) -> None:
    """The scheduler's name and arguments; its times parsed by Composer."""
    from llmfoundry import registry

    for key, value in _named("scheduler", registry.schedulers, section).items():
        if key.startswith("t_"):
            parse_time(f"scheduler.{key}", value)
        if key in ("alpha_f", "alpha", "alpha_i") and not 0 <= value <= 1:
            raise ValueError(f"scheduler.{key}: must be in [0, 1], got {value}")


def check_fsdp(section: Mapping[str, Any]) -> None:
    """``fsdp_config`` keys against Composer's FSDPConfig fields, and its choice values."""
    from composer.utils.parallelism import FSDPConfig

    fields = [f.name for f in dataclasses.fields(FSDPConfig) if not f.name.startswith("_")]
    for key, value in section.items():
        if key not in fields:
            raise ValueError(f"fsdp_config.{key}: not an FSDP setting{_nearest(key, fields)}")
        choices = FSDP_CHOICES.get(key)
        if choices and isinstance(value, str) and value not in choices:
            raise ValueError(f"fsdp_config.{key}: {value!r} is not one of {', '.join(choices)}")


def _callbacks(name: str) -> Any:
    """The registry holding callback ``name`` (those built with the train config apart)."""
    from llmfoundry import registry

    with_config = registry.callbacks_with_config
    return with_config if name in with_config.get_all() else registry.callbacks


def checkpoint_folders(recipe: TrainingSettings) -> dict[str, str]:
    """Where ``recipe``'s checkpointers write, locally: name -> folder (``{run_name}`` filled in).

    The trainer's ``save_folder``, and ``<save_folder>/huggingface`` of each ``hf_checkpointer``.
    """
    from llmfoundry.callbacks import HuggingFaceCheckpointer

    found = {"save_folder": recipe.save_folder} if recipe.save_folder else {}
    for name, kwargs in recipe.callbacks.items():
        target = _callbacks(name).get(name) if kwargs is not None else None
        if isinstance(target, type) and issubclass(target, HuggingFaceCheckpointer):
            assert kwargs is not None
            default = inspect.signature(target).parameters["huggingface_folder_name"].default
            exports = os.path.join(
                kwargs["save_folder"], "huggingface", kwargs.get("huggingface_folder_name", default)
            )
            found[name] = os.path.dirname(exports)
    return {
        name: composer_folder(folder, recipe.run_name)
        for name, folder in found.items()
        if "://" not in folder  # a bucket: nothing local to read
    }


def check_folders(recipe: TrainingSettings) -> None:
    """Each callback's ``validate_folders`` against where the recipe's checkpointers write."""
    writers: dict[str, str] | None = None
    for name, kwargs in recipe.callbacks.items():
        target = _callbacks(name).get(name) if kwargs is not None else None
        if isinstance(inspect.getattr_static(target, "validate_folders", None), classmethod):
            writers = checkpoint_folders(recipe) if writers is None else writers
            try:
                target.validate_folders(writers, **dict(kwargs or {}))  # type: ignore[union-attr]
            except ValueError as exc:
                raise _one_line(f"callbacks.{name}", exc) from None


def check_components(recipe: TrainingSettings) -> None:
    """Every component of ``recipe`` against llm-foundry's registries; raises ValueError."""
    from llmfoundry import registry

    check_optimizer(recipe.optimizer)
    check_scheduler(recipe.scheduler)
    for where in ("algorithms", "loggers"):
        _section(where, getattr(registry, where), getattr(recipe, where))
    for name, kwargs in recipe.callbacks.items():
        if kwargs is not None:
            _section("callbacks", _callbacks(name), {name: kwargs})
    check_folders(recipe)

    if recipe.fsdp_config is not None:
        check_fsdp(recipe.fsdp_config)
    model_name = getattr(getattr(recipe, "model", None), "name", None)
    if model_name is not None and model_name not in registry.models.get_all():
        known = list(registry.models.get_all())
        raise ValueError(f"model.name: unknown model {model_name!r}{_nearest(model_name, known)}")
