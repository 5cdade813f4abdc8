"""Score a model on the biomedical ICL gauntlet (MedQA, PubMedQA, MMLU medical subjects).

Usage::

    python -m eval_gauntlet score HF_DIR [--tasks NAME ...] [--limit N] [--shots N]
                                         [--out DIR] [--step N] [--tokens N] [--name NAME]
                                         [--device cpu|cuda] [--batch-size N] [--seed N]
    python -m eval_gauntlet tasks        # the task catalogue

    python -m eval_gauntlet score runs/tiny/hf --tasks medqa_4options mmlu_medical --limit 50

``HF_DIR`` is a local Hugging Face causal-LM folder (config, weights, tokenizer); nothing is
downloaded. ``--tasks`` takes task or group names from ``eval_gauntlet/tasks.yaml`` (default:
all). Results go to ``--out`` (default ``outputs/eval_gauntlet``): ``results.jsonl`` (appended),
``results.md``, ``results.png`` and ``predictions/<name>/<task>.<shots>shot.jsonl``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.tasks import DEFAULT_TASKS_FILE, load_tasks, select_tasks

log = logging.getLogger("eval_gauntlet")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval_gauntlet", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="score a Hugging Face model folder")
    score.add_argument("hf_dir", type=Path)
    _score_options(score)
    watch = sub.add_parser("watch", help="score each new checkpoint of a run, exactly once")
    watch.add_argument("folder", type=Path, help="folder of ba<step> Hugging Face exports")
    watch.add_argument("--once", action="store_true", help="score what is ready, then exit")
    watch.add_argument("--interval", type=float, default=10.0, help="seconds between looks")
    watch.add_argument(
        "--settle", type=float, default=5.0, help="seconds a checkpoint must be unchanged"
    )
    watch.add_argument(
        "--idle-timeout", type=float, help="stop after this many seconds without a new checkpoint"
    )
    watch.add_argument(
        "--tokens-per-step", type=int, help="global batch x sequence length, for tokens seen"
    )
    _score_options(watch)
    sub.add_parser("tasks", help="list the task catalogue").add_argument(
        "--tasks-file", type=Path, default=DEFAULT_TASKS_FILE
    )
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


def watch_run(args: argparse.Namespace) -> None:
    """Score each complete, unscored ``ba<step>`` export under ``args.folder``."""
    from eval_gauntlet.watch import watch

    def score(path: Path, name: str, step: int) -> None:
        tokens = step * args.tokens_per_step if args.tokens_per_step else None
        one = argparse.Namespace(
            **{**vars(args), "hf_dir": path, "name": name, "step": step, "tokens": tokens}
        )
        score_directory(one)

    if not args.folder.is_dir():
        raise GauntletError(f"{args.folder}: no such folder of checkpoints")
    scored = watch(
        args.folder,
        args.out,
        score,
        once=args.once,
        interval=args.interval,
        settle=args.settle,
        idle_timeout=args.idle_timeout,
    )
    log.info("scored %d checkpoint(s): %s", len(scored), ", ".join(scored) or "none new")


def score_directory(args: argparse.Namespace) -> None:
    """Validate everything, load the model, score it and record the results."""
    import torch

    from eval_gauntlet.evaluate import Options, evaluate_model, plan
    from eval_gauntlet.results import Checkpoint, Recorder
    from eval_gauntlet.scoring import load_hf_model

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
    planned = plan(select_tasks(catalogue, args.tasks), options)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_hf_model(args.hf_dir, device=device)
    checkpoint = Checkpoint(args.name or args.hf_dir.resolve().name, args.step, args.tokens)
    recorder = Recorder(args.out, checkpoint)
    result = evaluate_model(
        model,
        tokenizer,
        planned,
        options,
        catalogue=list(catalogue.values()),
        on_result=recorder.add,
    )
    recorder.finish(result)
    for name, value in result.gauntlet.items():
        log.info("gauntlet %s: %.4f", name, value)
    log.info("results in %s", args.out)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a user-input error is one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.command == "tasks":
            for task in load_tasks(args.tasks_file).values():
                shots = ",".join(map(str, task.num_fewshot))
                sys.stdout.write(f"{task.name}\t{task.category}\t{shots}-shot\t{task.data}\n")
        elif args.command == "watch":
            watch_run(args)
        else:
            score_directory(args)
    except GauntletError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
