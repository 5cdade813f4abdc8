"""A scoring job (``python -m eval_gauntlet score|watch``): the options checked once, before any
model loads, then a checkpoint scored, a folder's checkpoints scored once, or a folder watched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from biomedlm.trained.hub import locate
from biomedlm.trained.kinds import CheckpointError, is_sharded
from biomedlm.trained.names import EXPORT, checkpoint_name, step_of_name
from data_prep.files import write_refused
from eval_gauntlet import scoring
from eval_gauntlet.errors import GauntletError, UnreadableCheckpoint
from eval_gauntlet.evaluate import Planned, benchmarks, evaluate_model, plan
from eval_gauntlet.metrics import completes_a_category
from eval_gauntlet.options import CLI, Options
from eval_gauntlet.results import (
    Recorder,
    check_definitions,
    recorded_accuracies,
    recorded_tasks,
    scored_alike,
)
from eval_gauntlet.rows import Checkpoint
from eval_gauntlet.tasks import Task, select
from eval_gauntlet.watch import Expected, WatchReport, find_checkpoints, watch
from eval_gauntlet.watch_lock import FolderBusy, FolderLock, Trainer, still_training, successor

log = logging.getLogger(__name__)
WATCH_TIMING = ("interval", "settle", "idle_timeout", "broken_after")  # options watch() takes


@dataclass(frozen=True)
class Job:
    """What to score every checkpoint on: checked once, before any model is loaded."""

    options: Options  # ``samples`` read
    catalogue: dict[str, Task]
    planned: list[Planned]
    device: str
    expected: Expected  # what scoring a checkpoint records: the watcher's "already scored"
    pairs: frozenset[tuple[str, int]]  # the (task, shots) the gauntlet's benchmarks count

    @classmethod
    def of(cls, options: Options) -> Job:
        """Check ``options`` (values, task files, data, device, output folder) and plan."""
        options.check(CLI)
        selection = select(options, CLI)
        options = selection.options
        planned = plan(selection.tasks, options)
        device = _device(options.device)
        refused = write_refused(options.out.absolute())  # now, not after scoring
        if refused is not None:
            raise GauntletError(f"--out {options.out}: results cannot be written there ({refused})")
        check_definitions(options.out, selection.tasks)
        if options.threads:  # beside training: leave its data loaders cores
            torch.set_num_threads(options.threads)
        scored = frozenset((p.task.name, p.shots) for p in planned)
        counted = benchmarks(list(selection.catalogue.values()), options)
        alike = partial(scored_alike, options=options)
        expected = Expected(scored, completes_a_category(scored, counted), options.shots, alike)
        pairs = frozenset((task, b.shots) for b in counted for task in b.members or (b.task,))
        return cls(options, selection.catalogue, planned, device, expected, pairs)

    def score(self, path: Path, name: str | None, step: int | None, tokens: int | None) -> None:
        """Load one checkpoint, score it and record the results."""
        options = self.options
        model, tokenizer, progress = scoring.load_checkpoint(
            path, device=self.device, dtype=options.dtype, trust=options.trust_checkpoint
        )
        if progress is not None:  # a Composer checkpoint knows how far training had gone
            step = step if step is not None else progress[0]
            tokens = tokens if tokens is not None else progress[1]
        checkpoint = Checkpoint(name or checkpoint_name(path), step, tokens)
        recorded = recorded_tasks(options.out, checkpoint.name, options, self.pairs)
        recorder = Recorder(options.out, checkpoint, recorded)
        result = evaluate_model(
            model,
            tokenizer,
            self.planned,
            options,
            catalogue=list(self.catalogue.values()),
            on_result=recorder.add,
            recorded=recorded_accuracies(recorded),
        )
        recorder.finish(result)
        for task, value in result.gauntlet.items():
            log.info("gauntlet %s: %.4f", task, value)
        log.info("results in %s", options.out)

    def score_found(self, path: Path, name: str, step: int) -> bool:
        """Score a checkpoint a folder holds; False: unreadable, left unscored (the others go on)."""
        try:
            self.score(path, name, step, export_tokens(path, step, self.options.tokens_per_step))
        except UnreadableCheckpoint as exc:
            log.error("error: %s; skipped", exc)
            return False
        return True


def _device(name: str | None) -> str:
    """The device to score on, checked now: a CUDA device that is not there fails here."""
    device = name or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise GauntletError(f"--device {device}: not a device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (parsed.index or 0) >= count:
            raise GauntletError(
                f"--device {device}: this machine has {count} visible CUDA device(s); "
                "use --device cpu" + (f" or cuda:0..cuda:{count - 1}" if count else "")
            )
    return device


def export_tokens(path: Path, step: int | None, per_step: int | None) -> int | None:
    """Tokens seen by an HF export (``ba<step>``): ``step`` x ``--tokens-per-step``, as it does not
    record them; None for any other checkpoint (a Composer checkpoint knows its own)."""
    names = (path.name, path.resolve().name)  # a link to an export, or an export's link
    if not per_step or step is None or not any(EXPORT.match(name) for name in names):
        return None
    return step * per_step


def run(options: Options) -> WatchReport | None:
    """``score`` (``options.path``) or ``watch`` (``options.folder``); None: one checkpoint."""
    job = Job.of(options)
    if options.path is not None:
        return score_path(job, options.path)
    assert options.folder is not None, "watch's positional argument"
    return watch_run(job, options.folder, once=options.once)


def score_path(job: Job, path: Path) -> WatchReport | None:
    """One checkpoint file, HF folder or hub id (named after the id), or a folder's checkpoints."""
    options = job.options
    try:
        located = locate(path)
    except CheckpointError as exc:
        raise GauntletError(str(exc)) from None
    name = options.name or (str(path) if located != path else None)
    path = located
    if not path.exists():
        raise GauntletError(f"{path}: no such checkpoint, model folder or folder of checkpoints")
    if path.is_file() or (path / "config.json").is_file() or is_sharded(path):
        step = options.step if options.step is not None else step_of_name(path)
        tokens = options.tokens
        if tokens is None:
            tokens = export_tokens(path, step, options.tokens_per_step)
        job.score(path, name=name, step=step, tokens=tokens)
        return None
    if find_checkpoints(path):
        given = [f"--{flag}" for flag in ("name", "step", "tokens") if getattr(options, flag)]
        if given:
            raise GauntletError(
                f"{path}: a folder of checkpoints; {', '.join(given)} name one checkpoint "
                "(a folder's checkpoints are named by their files, with their own steps)"
            )
        return watch_run(job, path, once=True)
    raise GauntletError(
        f"{path}: no Hugging Face model (config.json) and no checkpoints "
        "(ep*-ba<step>-rank0.pt files, ep*-ba<step> sharded or ba<step> export folders) in it"
    )


def watch_run(job: Job, folder: Path, once: bool) -> WatchReport:
    """Score each complete, unscored checkpoint under ``folder``, holding the folder's lock; with
    ``trainer_pid``, while that trainer (or an announced relaunch) runs, then what remains.
    """
    if not folder.is_dir():
        raise GauntletError(f"{folder}: no such folder of checkpoints")
    out = job.options.out
    trainer = Trainer.of(job.options.trainer_pid) if job.options.trainer_pid else None
    lock = FolderLock(out)
    lock.acquire()
    scored: list[str] = []
    while True:
        serving = trainer
        try:
            running = partial(still_training, out, serving) if serving else None
            timing = {key: getattr(job.options, key) for key in WATCH_TIMING}
            report = watch(
                folder, out, job.score_found, job.expected, once, running=running, **timing
            )
            scored += report.scored
        finally:
            lock.release()  # before looking for a relaunch: see eval_gauntlet.watch_lock
        trainer = successor(out, serving) if serving else None
        if trainer is None:
            break
        try:
            lock.acquire()
        except FolderBusy:  # the relaunch started its own watcher
            break
        log.info("the run was relaunched (pid %d): watching its checkpoints", trainer.pid)
    log.info("scored %d checkpoint(s): %s", len(scored), ", ".join(scored) or "none new")
    if report.skipped:
        log.warning(
            "left %d checkpoint(s) unscored: %s",
            len(report.skipped),
            ", ".join(f"{name} ({why})" for name, why in report.skipped.items()),
        )
    return report
