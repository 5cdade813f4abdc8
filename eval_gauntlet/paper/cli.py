"""``python -m eval_gauntlet paper INIT``: the paper's table from one model (docs/paper.md).

A relaunch skips finished tasks and resumes the one it was in. Exit status: 0 every selected
task ran (or lacks its data); 1 a task failed; 2 bad input (INIT, a task name, no GPU).
"""

from __future__ import annotations

import argparse
from pathlib import Path

PAPER = "paper"


def add_subcommand(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``paper`` subcommand's arguments."""
    cmd = sub.add_parser(
        PAPER,
        help="the BioMedLM paper's table from one model (docs/paper.md)",
        usage="python -m eval_gauntlet paper INIT [options] [-- KEY=VALUE ...]",
        epilog="-- KEY=VALUE ...: recipe overrides for every fine-tune, after the options",
    )
    cmd.add_argument("init", help="the model to fine-tune: a folder, a checkpoint or a hub id")
    cmd.add_argument("--out", type=Path, default=Path("runs/paper"), help="default: %(default)s")
    cmd.add_argument("--only", nargs="+", metavar="TASK", help="run only these tasks")
    cmd.add_argument("--skip", nargs="+", metavar="TASK", help="run all but these tasks")
    cmd.add_argument(
        "--demo",
        action="store_true",
        help="the CPU plumbing: each task's *-debug-cpu recipe and a few gauntlet items",
    )


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """A ``paper`` command line cut at its ``--``: the options, then the recipe overrides."""
    if argv[:1] != [PAPER] or "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    """Run the paper's tasks as ``args`` say; the exit status (see the module docstring)."""
    from eval_gauntlet.paper.run import PaperRun, run_paper

    paper_run = PaperRun(args.init, args.out, args.only, args.skip, args.demo, tuple(overrides))
    return run_paper(paper_run)
