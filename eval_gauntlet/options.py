"""The gauntlet's options, declared once: fields, defaults, help, checks, who offers each.

:class:`Options` feeds the scorer, the command line (one argparse mapping per subcommand, each
offering only the options it honours), the ``gauntlet_watcher`` callback's signature, and the
watcher process's command line. No torch import: ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import json
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from eval_gauntlet.errors import GauntletError

SOFTMAX_DTYPES = ("float32", "model")  # log-softmax in float32 (lm-eval's float32), or as the model
DTYPES = ("auto", "float32", "bfloat16", "float16")  # weights as saved, or cast (lm-eval's dtype=)
SCORE, WATCH, TASKS, CALLBACK = "score", "watch", "tasks", "callback"  # who offers an option
COMMANDS = {  # the subcommands made of these options, and their help
    SCORE: "score a checkpoint, an HF model folder, or every checkpoint of a folder",
    WATCH: "score each new checkpoint of a run, exactly once",
    TASKS: "list the task catalogue",
}
RUNS = (SCORE, WATCH, CALLBACK)  # everything that scores
REQUIRED = object()  # a per-offer default: the option must be given


def option(
    default: Any,
    help: str | None = None,
    *,
    on: Sequence[str] = RUNS,
    minimum: int | None = None,
    choices: Sequence[str] | None = None,
    many: str | None = None,
    positional: bool = False,
    metavar: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    given: Any = None,
) -> Any:
    """A field of :class:`Options` and how its front ends offer it: ``on`` who offers it,
    ``many`` ``"+"`` or ``"append"``, ``defaults`` per offer (``REQUIRED``: none), ``given`` the
    callback's type where wider than the field's.
    """
    meta = dict(help=help, on=tuple(on), minimum=minimum, choices=choices, many=many,
                positional=positional, metavar=metavar, defaults=dict(defaults or {}), given=given)  # fmt: skip
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Options:
    """How to run the gauntlet; a field per option of its commands and of its callback."""

    path: Path | None = option(
        None, "a checkpoint file or sharded folder, an HF model folder (or a hub id, e.g. "
        "stanford-crfm/BioMedLM, from huggingface_hub's cache), or a folder of them",
        on=(SCORE,), positional=True,
    )  # fmt: skip
    folder: Path | None = option(
        None, "folder of ba<step> HF exports or ep*-ba<step>-rank0.pt files",
        on=(WATCH, CALLBACK), positional=True, defaults={CALLBACK: REQUIRED},
    )  # fmt: skip
    once: bool = option(False, "score what is ready, then exit", on=(WATCH,))
    tasks: tuple[str, ...] | None = option(None, "task or group names (default: all)", many="+")
    limit: int | None = option(None, "first N items of each task", minimum=1)
    sample: int | None = option(
        None, "a seeded random N items of each task (the files are sorted)", minimum=1
    )
    samples: str | Mapping[str, Sequence[int]] | None = option(
        None, 'lm-eval\'s --samples: {"TASK": [index, ...]} (or a file holding it), the items to '
        "score with lm-eval's own prompts for that subset; tasks not named are scored whole",
        metavar="JSON|FILE",
    )  # fmt: skip
    shots: int | None = option(None, "one shot count for all tasks", minimum=0)
    out: Path = option(
        Path("outputs/eval_gauntlet"), "results folder, one per run (default: %(default)s)",
        defaults={CALLBACK: REQUIRED},
    )  # fmt: skip
    name: str | None = option(
        None, "checkpoint name in the results (default: folder name)", on=(SCORE,)
    )
    step: int | None = option(None, "training step of this checkpoint", on=(SCORE,))
    tokens: int | None = option(None, "tokens seen by this checkpoint", on=(SCORE,))
    device: str | None = option(
        None, "cpu, cuda or cuda:N (default: score: cuda when available, else cpu; watch: cpu)",
        defaults={WATCH: "cpu", CALLBACK: "cpu"},
    )  # fmt: skip
    batch_size: int = option(8, minimum=1)
    seed: int = option(1234, "few-shot draws, --sample and the bootstrap")
    tasks_file: tuple[Path, ...] | None = option(
        None, "task file (repeatable, merged in order; default: the shipped catalogue). "
        "`include: default` in a file adds the shipped catalogue before its own entries",
        on=(*RUNS, TASKS), many="append", given=str | Sequence[str] | None,
    )  # fmt: skip
    fewshot_source: tuple[str, ...] | None = option(
        None, "draw TASK's (or a group's) few-shot examples from PATH, e.g. MedQA's train split "
        "(repeatable)", many="append", metavar="TASK=PATH",
        given=Mapping[str, str] | Sequence[str] | None,
    )  # fmt: skip
    softmax_dtype: str = option(
        SOFTMAX_DTYPES[0], "log-softmax in float32 (default; lm-eval's softmax_dtype=float32) or "
        "in the model's dtype (lm-eval's default): they differ on bf16 models",
        choices=SOFTMAX_DTYPES,
    )  # fmt: skip
    dtype: str = option(
        DTYPES[0], "load the weights in this dtype whatever they were saved in (lm-eval's dtype=); "
        "auto: as saved", choices=DTYPES,
    )  # fmt: skip
    no_gold_text: bool = option(
        False, "leave gold_text_bpb out: no cloze prompts (they add about half again the tokens "
        "forwarded)",
    )  # fmt: skip
    no_progress: bool = option(False, "no progress bars", on=(SCORE, WATCH))
    settle: float = option(5.0, "seconds a checkpoint must be unchanged")
    tokens_per_step: int | None = option(
        None, "global batch x sequence length: tokens seen by an HF export (ba<step>)",
        on=(SCORE, WATCH),
    )  # fmt: skip
    trust_checkpoint: bool = option(
        False, "load Composer checkpoints whose pickles may run code (only checkpoints you trust)"
    )
    interval: float = option(10.0, "seconds between looks", on=(WATCH, CALLBACK))
    idle_timeout: float | None = option(
        None, "stop after this many seconds without a new checkpoint", on=(WATCH,)
    )
    trainer_pid: int | None = option(
        None, "watch while this training process runs, then score what remains and exit",
        on=(WATCH,),
    )  # fmt: skip
    broken_after: float = option(
        600.0, "seconds an incomplete checkpoint may stay unchanged before it is reported broken",
        on=(WATCH, CALLBACK),
    )  # fmt: skip
    threads: int | None = option(
        None, "CPU threads for scoring (default: torch's, every core)", on=(WATCH, CALLBACK),
        minimum=1, defaults={CALLBACK: 8},
    )  # fmt: skip

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is not None and not isinstance(value, bool):
                object.__setattr__(self, spec.name, _coerce(spec, value))

    def check(self, naming: Naming) -> None:
        """The checks of single values and of their combinations; one line naming the option."""
        for spec in fields(self):
            value, meta = getattr(self, spec.name), spec.metadata
            if meta["minimum"] is not None and value is not None and value < meta["minimum"]:
                raise naming.error(spec.name, f"must be >= {meta['minimum']}")
            if meta["choices"] and value not in meta["choices"]:
                raise naming.error(
                    spec.name, f"{value!r}; expected one of {', '.join(meta['choices'])}"
                )
        given = [name for name in ("limit", "sample") if getattr(self, name) is not None]
        if self.samples is not None and given:
            raise naming.error(
                "samples", f"names the items to score: drop {naming.short(given[0])}"
            )
        if len(given) == 2:  # a row's subset would name only one of them
            raise naming.error("sample", f"draws from every item: drop {naming.short('limit')}")


def _coerce(spec: dataclasses.Field[Any], value: Any) -> Any:
    """A value as the field holds it: a path a Path, a repeated option a tuple."""
    scalar = _scalar(_hints()[spec.name])
    if spec.metadata["many"] is None:
        return scalar(value) if scalar is Path else value
    if isinstance(value, Mapping):  # fewshot_source written {TASK: PATH}
        value = [f"{key}={item}" for key, item in value.items()]
    values = [value] if isinstance(value, str | Path) else value
    return tuple(scalar(item) for item in values) or None


@dataclass(frozen=True)
class Naming:
    """How a front end names an option in its one-line errors (``--limit``, ``watcher.limit:``)."""

    prefix: str  # "--" (the command line) or "gauntlet_watcher." (the callback)

    def short(self, name: str) -> str:
        """The option as its user writes it: ``--batch-size``, ``batch_size``."""
        return "--" + name.replace("_", "-") if self.prefix == "--" else name

    def error(self, name: str, problem: str) -> GauntletError:
        """``problem`` of option ``name``, as one line."""
        if self.prefix == "--":
            return GauntletError(f"{self.short(name)} {problem}")
        return GauntletError(f"{self.prefix}{name}: {problem}")

    def wrap(self, name: str, message: str) -> GauntletError:
        """An error met while using option ``name`` (a task file, a task name): the command line's
        message names the file itself; the callback's is prefixed with the option it came from."""
        return GauntletError(message if self.prefix == "--" else f"{self.prefix}{name}: {message}")


CLI = Naming("--")
CALLBACK_NAMING = Naming("gauntlet_watcher.")


@cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(Options)


def _scalar(hint: Any) -> Callable[[Any], Any]:
    """The type of one value of a field: ``int`` of ``int | None``, ``Path`` of a tuple of Paths."""
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
    base = args[0]
    if typing.get_origin(base) is tuple:
        base = typing.get_args(base)[0]
    return base if base in (int, float, Path) else str


def offered(command: str) -> list[dataclasses.Field[Any]]:
    """The fields ``command`` offers, positional ones first."""
    mine = [spec for spec in fields(Options) if command in spec.metadata["on"]]
    return sorted(mine, key=lambda spec: not spec.metadata["positional"])


def default(spec: dataclasses.Field[Any], command: str) -> Any:
    """``spec``'s default where ``command`` offers it (``REQUIRED``: none)."""
    return spec.metadata["defaults"].get(command, spec.default)


def add_options(parser: argparse.ArgumentParser, command: str) -> None:
    """``command``'s arguments: each option it offers, as :class:`Options` declares it."""
    for spec in offered(command):
        meta = spec.metadata
        value = default(spec, command)
        kwargs: dict[str, Any] = {"help": meta["help"]}
        if meta["positional"]:
            parser.add_argument(spec.name, type=_scalar(_hints()[spec.name]), **kwargs)
            continue
        if isinstance(spec.default, bool):
            kwargs["action"] = "store_true"
        else:
            kwargs |= {"type": _scalar(_hints()[spec.name]), "default": value}
            kwargs |= {k: meta[k] for k in ("choices", "metavar") if meta[k] is not None}
            if meta["many"] == "+":
                kwargs["nargs"] = "+"
            elif meta["many"] == "append":
                kwargs["action"] = "append"
        parser.add_argument("--" + spec.name.replace("_", "-"), **kwargs)


def from_args(args: argparse.Namespace, command: str) -> Options:
    """The options a parsed ``command`` line gives (the others at their defaults)."""
    return Options(**{spec.name: getattr(args, spec.name) for spec in offered(command)})


def command_line(options: Options, command: str = WATCH) -> list[str]:
    """The ``python -m eval_gauntlet <command>`` line giving ``options`` (non-defaults as flags)."""
    argv = [sys.executable, "-m", "eval_gauntlet", command]
    for spec in offered(command):
        value, flag = getattr(options, spec.name), "--" + spec.name.replace("_", "-")
        if spec.metadata["positional"]:
            argv.append(str(value))
        elif value is None or value == default(spec, command) or value is False:
            continue
        elif value is True:
            argv.append(flag)
        elif spec.metadata["many"] == "append":
            argv += [part for item in value for part in (flag, str(item))]
        elif spec.metadata["many"] == "+":
            argv += [flag, *map(str, value)]
        elif isinstance(value, Mapping):  # samples written as YAML: lm-eval's JSON
            argv += [flag, json.dumps({str(k): list(v) for k, v in value.items()})]
        else:
            argv += [flag, str(value)]
    return argv


def from_given(given: Mapping[str, Any], command: str, naming: Naming) -> Options:
    """The options ``command`` was given by keyword (a callback's arguments), checked."""
    known = {spec.name: spec for spec in offered(command)}
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise naming.error(key, f"not an option here{hint}")
    values = {name: default(spec, command) for name, spec in known.items()} | dict(given)
    for name, value in values.items():
        if value is REQUIRED:
            raise naming.error(name, "required")
    options = Options(**values)
    options.check(naming)
    return options


def callback_signature(command: str = CALLBACK) -> tuple[inspect.Signature, dict[str, Any]]:
    """A callback's ``__init__`` signature and annotations: one keyword per option it offers,
    so a recipe's misspelled or mistyped key fails as it loads (biomedlm's strict check)."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    for spec in offered(command):
        value = default(spec, command)
        hint = spec.metadata["given"] or _hints()[spec.name]
        if hint is Path or hint == Path | None:  # written in YAML as a string
            hint = str if value is REQUIRED else str | None
        params.append(
            inspect.Parameter(
                spec.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if value is REQUIRED else value,
                annotation=hint,
            )
        )
    annotations = {"return": None} | {param.name: param.annotation for param in params[1:]}
    return inspect.Signature(params), annotations
