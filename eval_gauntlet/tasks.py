"""The gauntlet's tasks: catalogue entries validated, grouped, selected, and their protocol.

Task files are parsed by :mod:`medtasks.catalogue`; this adds what only the gauntlet needs.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.options import Naming, Options
from eval_gauntlet.prompts import FORMATS, SAMPLERS
from medtasks.catalogue import DEFAULT_TASKS_FILE, SELF, TaskEntry, read_catalogue, shipped
from medtasks.formats import SCHEMAS

AVERAGE = "average"  # the gauntlet's overall score; not a category name
LM_EVAL = "lm-eval"  # protocol: prompts and few-shot examples as lm-eval's own task
FROM_TEST = "gauntlet: few-shot from test, item excluded"
_OWN_FORMAT = "gauntlet: format "  # + "<format> is not an lm-eval task"
_SAMPLER = "gauntlet: "  # + "<sampler> sampler (lm-eval's: <sampler>)"
JOIN = "; "  # between the differences of a score pooled over several benchmarks
MARK = "†"  # in the table and plot: a score not made by lm-eval's own protocol
_REQUIRED = ("data", "format", "random_baseline", "category")


@dataclass(frozen=True)
class Task:
    """A validated task with its files resolved."""

    name: str
    data: Path
    format: str
    num_fewshot: tuple[int, ...]
    fewshot_source: Path | None  # None: the task's own file
    random_baseline: float
    category: str
    subject: str | None = None
    group: str | None = None
    fewshot_sampler: str = "default"
    schema: str = "options"
    cop_base: int | None = None
    origin: str = ""  # the task file that last wrote this entry, for messages


def _file(value: str, where: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise GauntletError(f"{where}: file not found: {path}")
    return path


def _validate(name: str, entry: TaskEntry, origin: str) -> Task:
    where = f"{origin}: tasks.{name}"
    for key in _REQUIRED:
        if getattr(entry, key) is None:
            raise GauntletError(f"{where}: missing key '{key}'")
    assert entry.data and entry.format and entry.category and entry.random_baseline is not None
    shots = entry.num_fewshot if entry.num_fewshot is not None else [0]
    if not shots or any(n < 0 for n in shots):
        raise GauntletError(f"{where}.num_fewshot: need a list of shot counts >= 0")
    if not 0.0 <= entry.random_baseline < 1.0:
        raise GauntletError(
            f"{where}.random_baseline: must be in [0, 1), got {entry.random_baseline}"
        )
    if entry.category == AVERAGE:
        raise GauntletError(f"{where}.category: {AVERAGE!r} is reserved for the overall score")
    sampler, schema = _prompting(where, entry)
    data = _file(entry.data, f"{where}.data")
    source = entry.fewshot_source or SELF
    fewshot = None if source == SELF else _file(source, f"{where}.fewshot_source")
    return Task(
        name=name,
        data=data,
        format=entry.format,
        num_fewshot=tuple(dict.fromkeys(shots)),
        fewshot_source=_pool(fewshot, data),
        random_baseline=entry.random_baseline,
        category=entry.category,
        subject=entry.subject,
        group=entry.group,
        fewshot_sampler=sampler,
        schema=schema,
        cop_base=entry.cop_base,
        origin=origin,
    )


def _prompting(where: str, entry: TaskEntry) -> tuple[str, str]:
    """The entry's few-shot sampler and row schema, its prompt format and their options checked."""
    if entry.format not in FORMATS:
        raise GauntletError(
            f"{where}.format: unknown prompt format {entry.format!r}; "
            f"expected one of {', '.join(FORMATS)}"
        )
    if entry.format == "mmlu" and entry.subject is None:
        raise GauntletError(
            f"{where}.subject: format mmlu scores one subject (its few-shot examples are the "
            "subject's dev rows, as lm-eval's mmlu_<subject>); write one entry per subject with "
            "its subject (a group pools them), as the shipped tasks.yaml does"
        )
    sampler = entry.fewshot_sampler or "default"
    if sampler not in SAMPLERS:
        raise GauntletError(
            f"{where}.fewshot_sampler: unknown sampler {sampler!r}; "
            f"expected one of {', '.join(SAMPLERS)} (lm-eval's names)"
        )
    schema = entry.schema or "options"
    if schema not in SCHEMAS:
        raise GauntletError(
            f"{where}.schema: unknown row schema {schema!r}; expected one of {', '.join(SCHEMAS)}"
        )
    if schema == "medmcqa" and entry.cop_base not in (0, 1):
        raise GauntletError(
            f"{where}.cop_base: the medmcqa schema needs cop_base: 1 (the release's JSON, "
            "cop 1-4) or 0 (the Hugging Face hub copy, cop 0-3)"
        )
    if schema != "medmcqa" and entry.cop_base is not None:
        raise GauntletError(f"{where}.cop_base: only for schema medmcqa")
    return sampler, schema


def _pool(fewshot: Path | None, data: Path) -> Path | None:
    """A task's few-shot file; None where it is the task's own data, drawn with the item excluded
    (the answer would otherwise be in its own prompt)."""
    return None if fewshot is None or fewshot.resolve() == data.resolve() else fewshot


def _check_groups(tasks: dict[str, Task]) -> None:
    for group, members in groups_of(tasks).items():
        if group in tasks:  # the entry that made the clash is named: a user's, not the shipped
            task, users = tasks[group], [m for m in members if not shipped(tasks[m].origin)]
            if shipped(task.origin) and users:
                raise GauntletError(
                    f"{tasks[users[0]].origin}: tasks.{users[0]}.group: {group!r} is a task's "
                    f"name ({task.origin}); give the group another name"
                )
            raise GauntletError(
                f"{task.origin}: tasks.{group}: {group!r} is the name of a group (of "
                f"{', '.join(members)}, {tasks[members[0]].origin}); give the task another name"
            )
        first = tasks[members[0]]
        for member in members[1:]:
            task = tasks[member]
            for key in ("category", "random_baseline", "num_fewshot"):
                if getattr(task, key) != getattr(first, key):
                    raise GauntletError(
                        f"{task.origin}: tasks.{member}.{key}: {getattr(task, key)!r} differs "
                        f"from {first.name}'s {getattr(first, key)!r}; a group's members are "
                        "one gauntlet benchmark and must agree"
                    )


def load_tasks(paths: str | Path | Sequence[str | Path] = DEFAULT_TASKS_FILE) -> dict[str, Task]:
    """Every task of the catalogue made of the task files ``paths``, merged in order, by name."""
    entries = read_catalogue(paths, error=GauntletError)
    if not entries:
        files = [paths] if isinstance(paths, str | Path) else paths
        raise GauntletError(f"{', '.join(map(str, files))}: no tasks")
    tasks = {name: _validate(name, e.entry, e.origin) for name, e in entries.items()}
    _check_groups(tasks)
    return tasks


@functools.lru_cache(maxsize=64)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def definition(task: Task) -> str:
    """A short hash of what ``task``'s rows depend on (its files' bytes, its entry's keys; not its
    name, shots or group): a results folder holds one definition per task name.
    """
    files = [task.data] if task.fewshot_source is None else [task.data, task.fewshot_source]
    stats = [(path.resolve(), path.stat()) for path in files]
    digests = [_digest(path, stat.st_size, stat.st_mtime_ns) for path, stat in stats]
    keys = [task.format, task.fewshot_sampler, task.subject, task.schema, task.cop_base,
            task.random_baseline, task.category, task.fewshot_source is None]  # fmt: skip
    return hashlib.sha256(json.dumps([digests, keys]).encode()).hexdigest()[:16]


def groups_of(tasks: dict[str, Task]) -> dict[str, list[str]]:
    """Group name -> member task names, in catalogue order."""
    groups: dict[str, list[str]] = {}
    for task in tasks.values():
        if task.group is not None:
            groups.setdefault(task.group, []).append(task.name)
    return groups


def _names(tasks: dict[str, Task], name: str) -> list[str]:
    """The task names ``name`` stands for (itself, or a group's members)."""
    groups = groups_of(tasks)
    if name in tasks:
        return [name]
    if name in groups:
        return groups[name]
    known = [*tasks, *groups]
    prefixed = [k for k in known if k.startswith(name)]
    close = prefixed or difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise GauntletError(f"unknown task {name!r}.{hint} Known tasks and groups: {', '.join(known)}")


def select_tasks(tasks: dict[str, Task], names: list[str] | None = None) -> list[Task]:
    """The tasks ``names`` asks for (task or group names), in catalogue order; all if none."""
    if not names:
        return list(tasks.values())
    wanted = {member for name in names for member in _names(tasks, name)}
    return [task for task in tasks.values() if task.name in wanted]


SAMPLES_FORMAT = 'lm-eval\'s --samples format, e.g. {"pubmedqa": [0, 5, 9]}'


def read_samples(
    spec: str | Mapping[str, Sequence[int]], tasks: dict[str, Task], selected: Sequence[Task]
) -> dict[str, tuple[int, ...]]:
    """lm-eval's ``--samples`` (JSON, a JSON file, the mapping): task -> indices of ``selected``."""
    if not isinstance(spec, str):  # written in YAML: as lm-eval's JSON
        spec = json.dumps({str(task): list(indices) for task, indices in spec.items()})
    where = f"--samples {spec}"
    text = spec
    if not spec.lstrip().startswith("{"):
        path = Path(spec).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise GauntletError(
                f"{where}: neither a JSON object nor a readable file ({reason}); {SAMPLES_FORMAT}"
            ) from None
        where = f"--samples {path}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GauntletError(f"{where}: not JSON ({exc.msg}); {SAMPLES_FORMAT}") from None
    if not isinstance(value, dict) or not value:
        raise GauntletError(f"{where}: expected a JSON object naming tasks; {SAMPLES_FORMAT}")
    groups = groups_of(tasks)
    scored = {task.name for task in selected}
    out = {}
    for name, indices in value.items():
        if name in groups:
            raise GauntletError(
                f"{where}: {name!r} is a group; name its tasks (lm-eval's --samples names "
                f"tasks): {', '.join(groups[name])}"
            )
        _names(tasks, name)  # an unknown name: one line with a hint
        if name not in scored:
            raise GauntletError(f"{where}: task {name!r} is not among the tasks scored (--tasks)")
        valid = isinstance(indices, list) and all(type(i) is int and i >= 0 for i in indices)
        if not valid or not indices:  # exactly int: a JSON true is no index
            raise GauntletError(
                f"{where}: {name}: expected a non-empty list of item indices (0, 1, ...)"
            )
        out[name] = tuple(indices)
    return out


@dataclass(frozen=True)
class Selection:
    """What a run's options select: the catalogue, the tasks scored, the options resolved."""

    catalogue: dict[str, Task]
    tasks: list[Task]
    options: Options  # ``samples`` read: task -> item indices


def select(options: Options, naming: Naming) -> Selection:
    """The catalogue, tasks and ``--samples`` ``options`` name, checked (errors name the option)."""
    key = "tasks_file"
    try:
        catalogue = load_tasks(list(options.tasks_file or [DEFAULT_TASKS_FILE]))
        key = "fewshot_source"
        catalogue = with_fewshot_sources(catalogue, options.fewshot_source or ())
        key = "tasks"
        selected = select_tasks(catalogue, list(options.tasks) if options.tasks else None)
        key = "samples"
        samples = None
        if options.samples is not None:
            samples = read_samples(options.samples, catalogue, selected)
    except GauntletError as exc:
        raise naming.wrap(key, str(exc)) from None
    return Selection(catalogue, selected, dataclasses.replace(options, samples=samples))


def with_fewshot_sources(tasks: dict[str, Task], sources: Sequence[str]) -> dict[str, Task]:
    """``tasks`` with few-shot pools replaced: each of ``sources`` is ``TASK=PATH`` (a train file)."""
    updated = dict(tasks)
    for spec in sources:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise GauntletError(f"--fewshot-source {spec!r}: expected TASK=PATH")
        file = _file(str(Path(path).expanduser()), f"--fewshot-source {name}")
        for member in _names(tasks, name):
            pool = _pool(file, updated[member].data)
            updated[member] = dataclasses.replace(updated[member], fewshot_source=pool)
    return updated


def protocol(task: Task, shots: int) -> str:
    """``lm-eval`` when ``task`` at ``shots`` is scored as lm-eval's own task; else what differs."""
    upstream = FORMATS[task.format].lm_eval
    if upstream is None:
        return f"{_OWN_FORMAT}{task.format} is not an lm-eval task"
    if shots == 0:
        return LM_EVAL
    if task.fewshot_source is None:
        return FROM_TEST
    if task.fewshot_sampler != upstream.sampler:
        return f"{_SAMPLER}{task.fewshot_sampler} sampler (lm-eval's: {upstream.sampler})"
    return LM_EVAL


def pooled_protocol(protocols: Iterable[str]) -> str:
    """The protocol of a pooled score: ``lm-eval``, or its parts' differences joined by ``JOIN``."""
    differences = {
        part for protocol in protocols for part in protocol.split(JOIN) if part != LM_EVAL
    }
    return JOIN.join(sorted(differences)) or LM_EVAL


def explain(difference: str) -> str:
    """One ``protocol`` difference in words for a reader (one it does not know, as it is)."""
    if difference == FROM_TEST:
        return (
            "few-shot examples not as lm-eval's task: drawn from the test file, the item "
            "excluded (lm-eval draws them from a train split the gauntlet was not given)"
        )
    if difference.startswith(_OWN_FORMAT) and difference.endswith(" is not an lm-eval task"):
        name = difference.removeprefix(_OWN_FORMAT).removesuffix(" is not an lm-eval task")
        return f"prompt format not lm-eval's: {name} is the gauntlet's own format"
    if difference.startswith(_SAMPLER) and " sampler (lm-eval's: " in difference:
        return f"few-shot examples not as lm-eval's task: {difference.removeprefix(_SAMPLER)}"
    return f"not scored as lm-eval's task: {difference}"
