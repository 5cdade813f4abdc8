"""The paper's whole evaluation from one model: every task in turn, then the table.

INIT, the task names and the machine are checked first; then, holding ``OUT/.lock``, each
selected task runs and the table is written whatever happened (docs/paper.md).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biomedlm.trained.hub import locate
from biomedlm.trained.kinds import CheckpointError
from data_prep.lock import LOCK_NAME, LockHeld, exclusive
from eval_gauntlet.paper.machine import Machine, probe
from eval_gauntlet.paper.report import PAPER_MD, write_report
from eval_gauntlet.paper.spec import IN_CONTEXT, Paper, PaperError, load_paper, select
from eval_gauntlet.paper.state import init_identity
from eval_gauntlet.paper.tasks import (
    BROKE,
    NOT_SELECTED,
    Context,
    Outcome,
    run_finetune,
    run_gauntlet,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaperRun:
    """One ``paper`` command: the model, where its table goes, which tasks, how."""

    init: str
    out: Path
    only: list[str] | None = None
    skip: list[str] | None = None
    demo: bool = False
    args: tuple[str, ...] = ()  # key=value overrides for every recipe


def _init_config(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None  # a Composer checkpoint: converted by each fine-tune's launch


def context(run: PaperRun) -> Context:
    """INIT found (a hub id through huggingface_hub's cache), the machine probed; one line else."""
    try:
        folder = locate(run.init)
    except CheckpointError as exc:
        raise PaperError(f"INIT {exc}") from None
    if not folder.exists():
        raise PaperError(f"INIT {run.init}: no such model folder, checkpoint or hub id")
    machine = Machine(0) if run.demo else probe()
    if machine.gpus == 0 and not run.demo:
        raise PaperError(
            "no GPU here: the paper's recipes train the 2.7B model in bf16 with FSDP; "
            "`make paper-demo` (--demo) runs the same plumbing on CPU with the debug model"
        )
    identity = init_identity(run.init, folder)
    return Context(run.init, identity, _init_config(folder), run.out, run.demo, machine,
                   list(run.args))  # fmt: skip


def _header(run: PaperRun, ctx: Context, paper: Paper) -> dict[str, Any]:
    machine = "CPU (--demo)" if run.demo else f"{ctx.machine.gpus} GPU(s)"
    source = paper.source
    about = {
        "INIT": f"{run.init} ({ctx.identity['path']}"
        + (f", revision {ctx.identity['revision']})" if ctx.identity["revision"] else ")"),
        "made": time.strftime("%Y-%m-%d %H:%M %Z") + f" on {machine}",
        "published numbers": f"{source.paper}, arXiv {source.arxiv} {source.version}. {source.note}",
    }
    if run.demo:
        about["plumbing"] = (
            "the debug model and the *-debug-cpu recipes on slices of the shipped data: these "
            "numbers show the pipeline runs, not what BioMedLM scores"
        )
    return {"init": run.init, "identity": ctx.identity, "demo": run.demo, "machine": machine,
            "about": about}  # fmt: skip


def run_paper(run: PaperRun, paper: Paper | None = None) -> int:
    """Run the paper's tasks for ``run`` and write its table; 1 when a task failed, else 0."""
    paper = paper or load_paper()
    chosen = select(paper, run.only, run.skip)
    ctx = context(run)
    try:
        with exclusive(run.out / LOCK_NAME):
            outcomes = _run_tasks(paper, chosen, ctx)
            write_report(run.out, paper, outcomes, _header(run, ctx, paper), run.demo)
    except LockHeld as busy:
        raise PaperError(
            f"--out {run.out}: another paper command ({busy.holder}) is running there; wait for "
            "it, stop it, or use another --out"
        ) from None
    failed = [name for name, o in outcomes.items() if o.status == BROKE]
    log.info("the table: %s", run.out / PAPER_MD)
    if failed:
        log.error("failed: %s (their logs: %s/<task>/log.txt)", ", ".join(failed), run.out)
    return 1 if failed else 0


def _run_tasks(paper: Paper, chosen: list[str], ctx: Context) -> dict[str, Outcome]:
    outcomes = {}
    for name, task in paper.tasks.items():
        if name not in chosen:
            outcomes[name] = Outcome(name, NOT_SELECTED, "")
            continue
        runner = run_gauntlet if task.kind == IN_CONTEXT else run_finetune
        outcomes[name] = runner(name, task, ctx)
    return outcomes
