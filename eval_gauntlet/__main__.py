"""Score a model on the biomedical ICL gauntlet (MedQA, PubMedQA, MMLU medical subjects).

Usage::

    python -m eval_gauntlet score PATH [--tasks NAME ...] [--limit N] [--shots N]
                                         [--out DIR] [--step N] [--tokens N] [--name NAME]
                                         [--device cpu|cuda] [--batch-size N] [--seed N]
    python -m eval_gauntlet tasks        # the task catalogue

    python -m eval_gauntlet score runs/debug-cpu/checkpoints/ep0-ba60-rank0.pt --limit 50
    python -m eval_gauntlet score runs/debug-cpu/checkpoints     # every checkpoint, each once
    python -m eval_gauntlet score path/to/BioMedLM --tasks medqa_4options mmlu_medical

``PATH`` is a Composer checkpoint (an ``ep*-ba<step>-rank0.pt`` file or an ``ep*-ba<step>/``
sharded folder), a local Hugging Face causal-LM folder (config, weights, tokenizer), or a folder
of either (a run's ``save_folder``, or the ``ba<step>`` exports of ``hf_checkpointer``): every
complete checkpoint in it not already in the results is scored, as ``watch --once`` does. A
Composer checkpoint records its step and tokens seen; nothing is downloaded. ``--tasks`` takes
task or group names from ``eval_gauntlet/tasks.yaml`` (default: all). Results go to ``--out``
(default ``outputs/eval_gauntlet``; use one per run: checkpoints are known by their names):
``results.jsonl`` (appended), ``results.md``, ``results.png`` and
``predictions/<name>/<task>.<shots>shot.jsonl``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eval_gauntlet.errors import GauntletError, UnreadableCheckpoint
from eval_gauntlet.finetuned.cli import add_subcommand as add_finetuned
from eval_gauntlet.finetuned.cli import run as run_finetuned
from eval_gauntlet.tasks import DEFAULT_TASKS_FILE, Task, load_tasks, select_tasks

if TYPE_CHECKING:  # evaluate imports torch: loaded only when a model is scored
    from eval_gauntlet.evaluate import Options, Planned

log = logging.getLogger("eval_gauntlet")


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
    _score_options(watch)
    sub.add_parser("tasks", help="list the task catalogue").add_argument(
        "--tasks-file", type=Path, default=DEFAULT_TASKS_FILE
    )
    add_finetuned(sub)  # python -m eval_gauntlet finetuned CHECKPOINT RECIPE [key=value ...]
    return parser


def _score_options(score: argparse.ArgumentParser) -> None:
    score.add_argument("--tasks", nargs="+", help="task or group names (default: all)")
    score.add_argument("--limit", type=int, help="first N items of each task")
    score.add_argument(
        "--sample", type=int, help="a seeded random N items of each task (the files are sorted)"
    )
    score.add_argument("--shots", type=int, help="one shot count for all tasks")
    score.add_argument("--out", type=Path, default=Path("outputs/eval_gauntlet"))
    score.add_argument("--name", help="checkpoint name in the results (default: folder name)")
    score.add_argument("--step", type=int, help="training step of this checkpoint")
    score.add_argument("--tokens", type=int, help="tokens seen by this checkpoint")
    score.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    score.add_argument("--batch-size", type=int, default=8)
    score.add_argument("--seed", type=int, default=1234)
    score.add_argument("--tasks-file", type=Path, default=DEFAULT_TASKS_FILE)
    score.add_argument("--no-progress", action="store_true")
    score.add_argument(
        "--settle", type=float, default=5.0, help="seconds a checkpoint must be unchanged"
    )
    score.add_argument(
        "--tokens-per-step",
        type=int,
        help="global batch x sequence length: tokens seen by an HF export (ba<step>)",
    )


@dataclass(frozen=True)
class Job:
    """What to score every checkpoint on: checked once, before any model is loaded."""

    args: argparse.Namespace
    catalogue: dict[str, Task]
    planned: list[Planned]
    options: Options

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Job:
        from eval_gauntlet.evaluate import Options, plan

        for flag in ("limit", "sample", "batch_size"):
            if getattr(args, flag) is not None and getattr(args, flag) < 1:
                raise GauntletError(f"--{flag.replace('_', '-')} must be >= 1")
        if args.shots is not None and args.shots < 0:
            raise GauntletError("--shots must be >= 0")
        catalogue = load_tasks(args.tasks_file)
        options = Options(
            shots=args.shots,
            limit=args.limit,
            sample=args.sample,
            seed=args.seed,
            batch_size=args.batch_size,
            progress=not args.no_progress,
        )
        return cls(args, catalogue, plan(select_tasks(catalogue, args.tasks), options), options)

    def score(self, path: Path, name: str | None, step: int | None, tokens: int | None) -> None:
        """Load one checkpoint, score it and record the results."""
        import torch

        from eval_gauntlet.evaluate import evaluate_model
        from eval_gauntlet.results import Checkpoint, Recorder
        from eval_gauntlet.scoring import load_checkpoint
        from eval_gauntlet.watch import checkpoint_name

        device = self.args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, tokenizer, progress = load_checkpoint(path, device=device)
        if progress is not None:  # a Composer checkpoint knows how far training had gone
            step = step if step is not None else progress[0]
            tokens = tokens if tokens is not None else progress[1]
        name = name or checkpoint_name(path.resolve())
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


def watch_run(job: Job, folder: Path, once: bool) -> None:
    """Score each complete, unscored checkpoint under ``folder``."""
    from eval_gauntlet.watch import watch

    per_step = job.args.tokens_per_step

    def score(path: Path, name: str, step: int) -> bool:
        # an HF export does not know its tokens seen; a Composer checkpoint does
        tokens = step * per_step if per_step and path.is_dir() else None
        try:
            job.score(path, name=name, step=step, tokens=tokens)
        except UnreadableCheckpoint as exc:  # left unscored; the others go on
            log.error("error: %s; skipped", exc)
            return False
        return True

    if not folder.is_dir():
        raise GauntletError(f"{folder}: no such folder of checkpoints")
    scored = watch(
        folder,
        job.args.out,
        score,
        once=once,
        interval=getattr(job.args, "interval", 0.0),
        settle=job.args.settle,
        idle_timeout=getattr(job.args, "idle_timeout", None),
    )
    log.info("scored %d checkpoint(s): %s", len(scored), ", ".join(scored) or "none new")


def score_path(job: Job, path: Path) -> None:
    """One checkpoint file or HF directory, or every checkpoint of a folder."""
    from biomedlm.checkpoint import is_sharded
    from eval_gauntlet.watch import find_checkpoints

    args = job.args
    if not path.exists():
        raise GauntletError(f"{path}: no such checkpoint, model folder or folder of checkpoints")
    if path.is_file() or (path / "config.json").is_file() or is_sharded(path):
        job.score(path, name=args.name, step=args.step, tokens=args.tokens)
    elif find_checkpoints(path):
        given = [f"--{flag}" for flag in ("name", "step", "tokens") if getattr(args, flag)]
        if given:
            raise GauntletError(
                f"{path}: a folder of checkpoints; {', '.join(given)} name one checkpoint "
                "(a folder's checkpoints are named by their files, with their own steps)"
            )
        watch_run(job, path, once=True)
    else:
        raise GauntletError(
            f"{path}: no Hugging Face model (config.json) and no checkpoints "
            "(ep*-ba<step>-rank0.pt files, ep*-ba<step> sharded or ba<step> export folders) in it"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a user-input error is one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.command == "tasks":
            for task in load_tasks(args.tasks_file).values():
                shots = ",".join(map(str, task.num_fewshot))
                sys.stdout.write(f"{task.name}\t{task.category}\t{shots}-shot\t{task.data}\n")
        elif args.command == "finetuned":
            run_finetuned(args)
        elif args.command == "watch":
            watch_run(Job.from_args(args), args.folder, once=args.once)
        else:
            score_path(Job.from_args(args), args.path)
    except GauntletError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
