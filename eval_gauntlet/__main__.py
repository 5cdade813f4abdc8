"""Score a model on the biomedical ICL gauntlet (MedQA, PubMedQA, MMLU medical subjects).

Usage::

    python -m eval_gauntlet score PATH [--tasks NAME ...] [--limit N] [--shots N]
                                         [--out DIR] [--step N] [--tokens N] [--name NAME]
                                         [--device cpu|cuda] [--batch-size N] [--seed N]
                                         [--tasks-file FILE ...] [--fewshot-source TASK=PATH]
                                         [--softmax-dtype float32|model] [--no-gold-text]
                                         [--dtype auto|float32|bfloat16|float16]
                                         [--samples JSON|FILE]
    python -m eval_gauntlet tasks [--tasks-file FILE ...]    # the task catalogue

    python -m eval_gauntlet score runs/debug-cpu/checkpoints/ep0-ba60-rank0.pt --limit 50
    python -m eval_gauntlet score runs/debug-cpu/checkpoints     # every checkpoint, each once
    python -m eval_gauntlet score path/to/BioMedLM --tasks medqa_4options mmlu_medical

``PATH`` is a Composer checkpoint (an ``ep*-ba<step>-rank0.pt`` file or an ``ep*-ba<step>/``
sharded folder), a local Hugging Face causal-LM folder (config, weights, tokenizer), or a folder
of either (a run's ``save_folder``, or the ``ba<step>`` exports of ``hf_checkpointer``): every
complete checkpoint in it not already in the results is scored, as ``watch --once`` does. A
Composer checkpoint records its step and tokens seen; nothing is downloaded. ``--tasks`` takes
task or group names from ``eval_gauntlet/tasks.yaml`` (default: all), or from the task files
given with ``--tasks-file`` (a file starting ``include: default`` extends the shipped catalogue).
Results go to ``--out``
(default ``outputs/eval_gauntlet``; use one per run: checkpoints are known by their names):
``results.jsonl`` (appended), ``results.md``, ``results.png`` and
``predictions/<name>/<task>.<shots>shot.jsonl``.

A Composer checkpoint whose pickles name anything beyond Composer's own types is refused (it
could run code when loaded); ``--trust-checkpoint`` loads it anyway, for checkpoints you trust.
The device and the output folder are checked before any model is loaded.

Exit status: 0 everything asked for was scored; 2 bad input (an option, a task file, or the one
checkpoint named cannot be loaded); 3 a folder's pass finished but left checkpoints unscored
(unreadable, incomplete or still being written: each is one error line, and is tried again
once it changes); 4 another watcher holds the output folder (``OUT/watcher.lock``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from eval_gauntlet.errors import GauntletError, UnreadableCheckpoint
from eval_gauntlet.finetuned.cli import add_subcommand as add_finetuned
from eval_gauntlet.finetuned.cli import run as run_finetuned
from eval_gauntlet.tasks import (
    DEFAULT_TASKS_FILE,
    Task,
    load_tasks,
    read_samples,
    select_tasks,
    with_fewshot_sources,
)

if TYPE_CHECKING:  # evaluate imports torch: loaded only when a model is scored
    from eval_gauntlet.evaluate import Options, Planned
    from eval_gauntlet.watch import WatchReport

log = logging.getLogger("eval_gauntlet")
EXIT_BAD_INPUT, EXIT_SKIPPED, EXIT_BUSY = 2, 3, 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval_gauntlet", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser(
        "score", help="score a checkpoint, an HF model folder, or every checkpoint of a folder"
    )
    score.add_argument("path", type=Path)
    _score_options(score)
    watch = sub.add_parser("watch", help="score each new checkpoint of a run, exactly once")
    watch.add_argument(
        "folder", type=Path, help="folder of ba<step> HF exports or ep*-ba<step>-rank0.pt files"
    )
    watch.add_argument("--once", action="store_true", help="score what is ready, then exit")
    watch.add_argument("--interval", type=float, default=10.0, help="seconds between looks")
    watch.add_argument(
        "--idle-timeout", type=float, help="stop after this many seconds without a new checkpoint"
    )
    watch.add_argument(
        "--trainer-pid",
        type=int,
        help="watch while this training process runs, then score what remains and exit",
    )
    watch.add_argument(
        "--broken-after",
        type=float,
        default=600.0,
        help="seconds an incomplete checkpoint may stay unchanged before it is reported broken",
    )
    watch.add_argument(
        "--threads", type=int, help="CPU threads for scoring (default: torch's, every core)"
    )
    _score_options(watch, default_device="cpu")
    _tasks_file_option(sub.add_parser("tasks", help="list the task catalogue"))
    add_finetuned(sub)  # python -m eval_gauntlet finetuned CHECKPOINT RECIPE [key=value ...]
    return parser


def _tasks_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks-file",
        type=Path,
        action="append",
        help="task file (repeatable, merged in order; default: the shipped catalogue). "
        "`include: default` in a file adds the shipped catalogue before its own entries",
    )


def _catalogue(args: argparse.Namespace) -> dict[str, Task]:
    catalogue = load_tasks(args.tasks_file or [DEFAULT_TASKS_FILE])
    return with_fewshot_sources(catalogue, getattr(args, "fewshot_source", None) or [])


def _score_options(score: argparse.ArgumentParser, default_device: str | None = None) -> None:
    score.add_argument("--tasks", nargs="+", help="task or group names (default: all)")
    score.add_argument("--limit", type=int, help="first N items of each task")
    score.add_argument(
        "--sample", type=int, help="a seeded random N items of each task (the files are sorted)"
    )
    score.add_argument(
        "--samples",
        metavar="JSON|FILE",
        help='lm-eval\'s --samples: {"TASK": [index, ...]} (or a file holding it), the items '
        "to score with lm-eval's own prompts for that subset; tasks not named are scored whole",
    )
    score.add_argument("--shots", type=int, help="one shot count for all tasks")
    score.add_argument("--out", type=Path, default=Path("outputs/eval_gauntlet"))
    score.add_argument("--name", help="checkpoint name in the results (default: folder name)")
    score.add_argument("--step", type=int, help="training step of this checkpoint")
    score.add_argument("--tokens", type=int, help="tokens seen by this checkpoint")
    score.add_argument(
        "--device",
        default=default_device,
        help=f"cpu, cuda or cuda:N (default: {default_device or 'cuda when available, else cpu'})",
    )
    score.add_argument("--batch-size", type=int, default=8)
    score.add_argument("--seed", type=int, default=1234)
    _tasks_file_option(score)
    score.add_argument(
        "--fewshot-source",
        action="append",
        metavar="TASK=PATH",
        help="draw TASK's (or a group's) few-shot examples from PATH, e.g. MedQA's train split "
        "(repeatable)",
    )
    score.add_argument(
        "--softmax-dtype",
        choices=("float32", "model"),  # scoring.SOFTMAX_DTYPES (not imported: torch)
        default="float32",
        help="log-softmax in float32 (default; lm-eval's softmax_dtype=float32) or in the "
        "model's dtype (lm-eval's default): they differ on bf16 models",
    )
    score.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),  # scoring.DTYPES (not imported: torch)
        default="auto",
        help="load the weights in this dtype whatever they were saved in (lm-eval's dtype=); "
        "auto: as saved",
    )
    score.add_argument(
        "--no-gold-text",
        action="store_true",
        help="leave gold_text_bpb out: no cloze pass (it adds about half again the input tokens "
        "of lettered tasks)",
    )
    score.add_argument("--no-progress", action="store_true")
    score.add_argument(
        "--settle", type=float, default=5.0, help="seconds a checkpoint must be unchanged"
    )
    score.add_argument(
        "--tokens-per-step",
        type=int,
        help="global batch x sequence length: tokens seen by an HF export (ba<step>)",
    )
    score.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="load Composer checkpoints whose pickles may run code (only checkpoints you trust)",
    )


@dataclass(frozen=True)
class Job:
    """What to score every checkpoint on: checked once, before any model is loaded."""

    args: argparse.Namespace
    catalogue: dict[str, Task]
    planned: list[Planned]
    options: Options
    device: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Job:
        from eval_gauntlet.evaluate import Options, plan
        from eval_gauntlet.results import check_definitions

        for flag in ("limit", "sample", "batch_size", "threads"):
            if getattr(args, flag, None) is not None and getattr(args, flag) < 1:
                raise GauntletError(f"--{flag.replace('_', '-')} must be >= 1")
        if args.shots is not None and args.shots < 0:
            raise GauntletError("--shots must be >= 0")
        if args.samples is not None and (args.limit is not None or args.sample is not None):
            given = "--limit" if args.limit is not None else "--sample"
            raise GauntletError(f"--samples names the items to score: drop {given}")
        catalogue = _catalogue(args)
        selected = select_tasks(catalogue, args.tasks)
        samples = read_samples(args.samples, catalogue, selected) if args.samples else None
        options = Options(
            shots=args.shots,
            limit=args.limit,
            sample=args.sample,
            samples=samples,
            seed=args.seed,
            batch_size=args.batch_size,
            progress=not args.no_progress,
            softmax_dtype=args.softmax_dtype,
            gold_text=not args.no_gold_text,
            dtype=args.dtype,
        )
        planned = plan(selected, options)
        device = _device(args.device)
        _check_writable(args.out)
        check_definitions(args.out, selected)
        if getattr(args, "threads", None):  # beside training: leave its data loaders cores
            import torch

            torch.set_num_threads(args.threads)
        return cls(args, catalogue, planned, options, device)

    def score(self, path: Path, name: str | None, step: int | None, tokens: int | None) -> None:
        """Load one checkpoint, score it and record the results."""
        from biomedlm.trained.names import checkpoint_name
        from eval_gauntlet.evaluate import evaluate_model
        from eval_gauntlet.results import Checkpoint, Recorder
        from eval_gauntlet.scoring import load_checkpoint

        model, tokenizer, progress = load_checkpoint(
            path, device=self.device, dtype=self.options.dtype, trust=self.args.trust_checkpoint
        )
        if progress is not None:  # a Composer checkpoint knows how far training had gone
            step = step if step is not None else progress[0]
            tokens = tokens if tokens is not None else progress[1]
        name = name or checkpoint_name(path)
        recorder = Recorder(self.args.out, Checkpoint(name, step, tokens))
        result = evaluate_model(
            model,
            tokenizer,
            self.planned,
            self.options,
            catalogue=list(self.catalogue.values()),
            on_result=recorder.add,
        )
        recorder.finish(result)
        for task, value in result.gauntlet.items():
            log.info("gauntlet %s: %.4f", task, value)
        log.info("results in %s", self.args.out)


def _device(name: str | None) -> str:
    """The device to score on, checked now: a CUDA device that is not there fails here."""
    import torch

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


def _check_writable(out: Path) -> None:
    """Fail now, not after scoring, when results cannot be written under ``out``.

    The folders it creates to try are removed again: a failed command leaves nothing.
    """
    created = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise GauntletError(
            f"--out {out}: results cannot be written there ({exc.strerror or exc})"
        ) from None
    finally:
        for folder in created:  # deepest first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def watch_run(job: Job, folder: Path, once: bool) -> WatchReport:
    """Score each complete, unscored checkpoint under ``folder``, holding the folder's lock.

    With ``--trainer-pid``, watch while that training process (or a relaunch of its run that
    announces itself in ``OUT/trainer.json``) runs, then score what remains and return.
    """
    from eval_gauntlet.watch_lock import FolderBusy, FolderLock, Trainer, still_training, successor

    if not folder.is_dir():
        raise GauntletError(f"{folder}: no such folder of checkpoints")
    out = job.args.out
    trainer_pid = getattr(job.args, "trainer_pid", None)
    trainer = Trainer.of(trainer_pid) if trainer_pid else None
    lock = FolderLock(out)
    lock.acquire()
    scored: list[str] = []
    while True:
        serving = trainer
        try:
            running = partial(still_training, out, serving) if serving else None
            report = _watch_pass(job, folder, once, running)
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


def _watch_pass(
    job: Job, folder: Path, once: bool, running: Callable[[], bool] | None
) -> WatchReport:
    from biomedlm.trained.names import EXPORT
    from eval_gauntlet.watch import watch

    per_step = job.args.tokens_per_step

    def score(path: Path, name: str, step: int) -> bool:
        # an HF export does not know its tokens seen; a Composer checkpoint (file or shards) does
        tokens = step * per_step if per_step and EXPORT.match(path.name) else None
        try:
            job.score(path, name=name, step=step, tokens=tokens)
        except UnreadableCheckpoint as exc:  # left unscored; the others go on
            log.error("error: %s; skipped", exc)
            return False
        return True

    return watch(
        folder,
        job.args.out,
        score,
        once=once,
        interval=getattr(job.args, "interval", 0.0),
        settle=job.args.settle,
        idle_timeout=getattr(job.args, "idle_timeout", None),
        broken_after=getattr(job.args, "broken_after", 600.0),
        running=running,
    )


def score_path(job: Job, path: Path) -> WatchReport | None:
    """One checkpoint file or HF directory, or every checkpoint of a folder."""
    from biomedlm.trained.kinds import is_sharded
    from eval_gauntlet.watch import find_checkpoints

    args = job.args
    if not path.exists():
        raise GauntletError(f"{path}: no such checkpoint, model folder or folder of checkpoints")
    if path.is_file() or (path / "config.json").is_file() or is_sharded(path):
        job.score(path, name=args.name, step=args.step, tokens=args.tokens)
        return None
    if find_checkpoints(path):
        given = [f"--{flag}" for flag in ("name", "step", "tokens") if getattr(args, flag)]
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


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a user-input error is one line on stderr (see the exit statuses)."""
    from eval_gauntlet.watch_lock import FolderBusy

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    report = None
    try:
        if args.command == "tasks":
            for task in _catalogue(args).values():
                shots = ",".join(map(str, task.num_fewshot))
                sys.stdout.write(f"{task.name}\t{task.category}\t{shots}-shot\t{task.data}\n")
        elif args.command == "finetuned":
            run_finetuned(args)
        elif args.command == "watch":
            report = watch_run(Job.from_args(args), args.folder, once=args.once)
        else:
            report = score_path(Job.from_args(args), args.path)
    except GauntletError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except FolderBusy as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BUSY
    return EXIT_SKIPPED if report is not None and report.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
