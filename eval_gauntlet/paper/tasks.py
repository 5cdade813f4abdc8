"""Running one task of the paper, restartably: the in-context gauntlet on INIT, or one fine-tune.

Each runs as the user would run it, in a child process writing ``OUT/<task>/log.txt``
(``biomedlm.train RECIPE``, scored by the recipe's ``finetune_eval``; ``eval_gauntlet score
INIT``). A task whose data files are missing is not run. The state file (:mod:`.state`) decides
between skipping, resuming and starting anew (docs/paper.md).
"""

from __future__ import annotations

import glob
import logging
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biomedlm.recipe_files import resolved
from biomedlm.recipe_kinds import load_recipe
from biomedlm.settings import RecipeError
from eval_gauntlet.errors import GauntletError
from eval_gauntlet.options import CLI, SCORE, Options, command_line
from eval_gauntlet.paper.machine import LORA, ON_CPU, Launch, Machine, plan_launch
from eval_gauntlet.paper.spec import Task
from eval_gauntlet.paper.state import DONE, FAILED, RUNNING, TaskState, read_state, what_changed

log = logging.getLogger(__name__)
LOG = "log.txt"
LAUNCHED = "==> "  # begins the line _launch writes before each launch's output
RAN, NOT_RUN, NOT_SELECTED, BROKE = "run", "not run", "not selected", "failed"  # outcomes
PREFIX = re.compile(r"^[a-z_]+:(?!//)")  # a recipe's `medmcqa:path` format prefix


@dataclass(frozen=True)
class Context:
    """What every task of one ``paper`` command shares."""

    init: str
    identity: dict[str, Any]
    init_config: dict[str, Any] | None  # INIT's Hugging Face config, when it has one
    out: Path
    demo: bool
    machine: Machine
    args: list[str]  # key=value overrides for every recipe


@dataclass
class Outcome:
    """How one task ended in this command: what its rows say and where its results are."""

    task: str
    status: str  # RAN, NOT_RUN, NOT_SELECTED or BROKE
    line: str  # said in the rows (what to bring, why it failed)
    results: Path | None = None  # the folder of its results.jsonl
    run_name: str | None = None  # its rows' checkpoint name
    note: str | None = None  # how the machine ran it
    recipe: str | None = None
    overrides: list[str] = field(default_factory=list)


def missing_files(recipe: Any) -> list[str]:
    """The data files, folders or globs ``recipe`` names that match nothing here."""
    data = recipe.data
    entries = [*data.train, *data.validation, *data.test]
    entries += [path for extra in recipe.eval.extra.values() for path in extra.path]
    missing = []
    for entry in dict.fromkeys(entries):
        spec = PREFIX.sub("", entry)
        if not Path(spec).exists() and not glob.glob(spec):
            missing.append(spec)
    return missing


def _launch(command: list[str], folder: Path, what: str) -> int:
    """Run ``command`` with its output appended to ``folder/log.txt``; its exit status."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOG).open("a") as out:
        out.write(f"\n{LAUNCHED}{time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(command)}\n")
        out.flush()
        log.info("%s: %s (log: %s)", folder.name, what, folder / LOG)
        return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode


def last_error(folder: Path) -> str:
    """The line of a failed run's log that says why: of its last launch's output (the log is
    appended to), the last ``error:`` line, else the last."""
    try:
        text = (folder / LOG).read_text()
    except OSError:
        return "no log"
    last = text.split(f"\n{LAUNCHED}")[-1].splitlines()[1:]  # after the launch's own line
    lines = [line.strip() for line in last if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["no output"])[-1][:300]


def _prepare(name: str, folder: Path, ran: dict[str, Any], ctx: Context) -> TaskState | None:
    """The task's new state before launching it (None: done, skip); a changed INIT or recipe
    removes its previous run first, saying so.
    """
    old = read_state(folder)
    why = what_changed(old, ctx.identity, ran) if old is not None else None
    if old is None and folder.exists():
        why = "no state file beside its previous files"
    if why is not None:
        log.warning("%s: %s: starting it anew (its previous run in %s removed)", name, why, folder)
        shutil.rmtree(folder)
        old = None
    if old is not None and old.status == DONE:
        log.info("%s: done in an earlier launch (skipped; %s)", name, folder)
        return None
    if old is not None:
        how = "interrupted: resuming" if old.status == RUNNING else "failed: launching again"
        log.info("%s: %s", name, how)
    launches = old.launches if old is not None else 0
    return TaskState(name, RUNNING, ctx.identity, ran, launches=launches + 1)


def _run(found: Outcome, state: TaskState, folder: Path, what: str) -> Outcome:
    """Launch ``state.command``, record how it ended, and say so in ``found``."""
    state.save(folder)
    code = _launch(state.command, folder, what)
    state.status, state.exit_code = (DONE if code == 0 else FAILED), code
    state.save(folder)
    if code != 0:
        found.status, found.line = BROKE, f"{last_error(folder)} (exit {code}; {folder / LOG})"
    return found


def _plan(
    name: str, task: Task, base: list[str], ctx: Context, old: TaskState | None
) -> tuple[str, Any, Launch]:
    """The recipe task ``name`` runs here and its launch, with the machine's overrides (those
    ``old`` ran with where its run goes on: the same INIT and recipe; else this machine's). A state
    file written before they were recorded ran with whichever plan (full fine-tuning or LoRA)
    leaves its recipe unchanged."""
    path = task.recipe_for(ctx.demo)

    def load(machine: list[str]) -> Any:
        return load_recipe(path, [*base, *machine, *ctx.args], components=False)

    recipe = load([])
    launch = Launch(ON_CPU, []) if ctx.demo else plan_launch(recipe, ctx.init_config, ctx.machine)
    plans = [] if old is None else [old.machine] if old.machine is not None else [[], LORA]
    for machine in (plan for plan in plans if plan != launch.overrides):
        kept = load(machine)
        if old is not None and what_changed(old, ctx.identity, resolved(kept)) is None:
            if old.status != DONE:
                log.warning("%s: goes on as it was launched (%s), not as this machine would run "
                            "it now (%s); remove %s to start it anew so", name, old.note,
                            launch.note, ctx.out / name)  # fmt: skip
            return path, kept, Launch(launch.command, machine, old.note)
    return path, load(launch.overrides) if launch.overrides else recipe, launch


def run_finetune(name: str, task: Task, ctx: Context) -> Outcome:
    """One fine-tune of the paper: launched, resumed, skipped or not run (missing data)."""
    folder = ctx.out / name
    base = [f"model.init_from={ctx.init}", f"run_dir={folder}"]
    old = read_state(folder)
    try:
        path, recipe, launch = _plan(name, task, base, ctx, old)
    except RecipeError as exc:
        return Outcome(name, BROKE, f"the recipe does not load: {exc}")
    overrides = [*base, *launch.overrides, *ctx.args]
    found = Outcome(name, RAN, "", Path(recipe.eval.out), recipe.run_name, launch.note, path,
                    overrides)  # fmt: skip
    missing = missing_files(recipe)
    if missing:
        found.status = NOT_RUN
        found.line = "; ".join(f"bring {m} ({task.described(m)})" for m in missing)
        log.info("%s: not run: bring %s", name, ", ".join(missing))
        return found
    state = _prepare(name, folder, resolved(recipe), ctx)
    if state is None:  # done: as the machine of its launch ran it
        found.note = old.note if old is not None else found.note
        return found
    state.command, state.note = [*launch.command, path, *overrides], launch.note
    state.machine = launch.overrides
    return _run(found, state, folder, f"fine-tuning with {path}")


def gauntlet_options(task: Task, ctx: Context, folder: Path) -> Options:
    """The gauntlet's options for INIT, from the paper file's (its keys are Options' fields)."""
    given = {**task.options, **(task.demo_options if ctx.demo else {})}
    try:
        options = Options(path=Path(ctx.init), out=folder, name="INIT", no_progress=True, **given)
    except TypeError as exc:
        raise GauntletError(f"paper.yaml: the gauntlet's options: {exc}") from None
    options.check(CLI)
    return options


def run_gauntlet(name: str, task: Task, ctx: Context) -> Outcome:
    """The in-context gauntlet on INIT, its rows in ``OUT/<name>``."""
    folder = ctx.out / name
    command = command_line(gauntlet_options(task, ctx, folder), SCORE)
    found = Outcome(name, RAN, "", folder, "INIT", None, None, command[4:])
    state = _prepare(name, folder, {"command": command[1:]}, ctx)
    if state is None:
        return found
    state.command = command
    return _run(found, state, folder, "scoring INIT in context")
