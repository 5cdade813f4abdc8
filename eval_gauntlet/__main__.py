"""Score models on the biomedical in-context gauntlet (MedQA, PubMedQA, MMLU medical subjects).

Subcommands score, watch, tasks, finetuned and paper (docs/evaluation.md; each one's ``--help``
lists the options it honours). Exit status: 0 all scored; 2 bad input; 3 a folder's pass left
checkpoints unscored; 4 another watcher holds the output folder; ``paper``: 1 when a task failed.
"""

from __future__ import annotations

import argparse
import logging
import sys

from biomedlm.known_warnings import silence_known_warnings
from eval_gauntlet.errors import GauntletError
from eval_gauntlet.finetuned.cli import add_subcommand as add_finetuned
from eval_gauntlet.finetuned.cli import run as run_finetuned
from eval_gauntlet.options import CLI, COMMANDS, TASKS, add_options, from_args
from eval_gauntlet.paper.cli import PAPER, split_overrides
from eval_gauntlet.paper.cli import add_subcommand as add_paper
from eval_gauntlet.paper.cli import run as run_paper
from eval_gauntlet.tasks import select
from eval_gauntlet.watch_lock import FolderBusy

EXIT_BAD_INPUT, EXIT_SKIPPED, EXIT_BUSY = 2, 3, 4


def parser() -> argparse.ArgumentParser:
    """The command line: a subcommand per entry of :data:`~eval_gauntlet.options.COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="python -m eval_gauntlet", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command, help in COMMANDS.items():
        # no abbreviations: watch would take score's --tokens for its --tokens-per-step
        add_options(sub.add_parser(command, help=help, allow_abbrev=False), command)
    add_finetuned(sub)
    add_paper(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a user-input error is one line on stderr (see the exit statuses)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    silence_known_warnings()
    argv, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    args = parser().parse_args(argv)
    try:
        if args.command == "finetuned":
            run_finetuned(args)
            return 0
        if args.command == PAPER:
            return run_paper(args, overrides)
        options = from_args(args, args.command)
        if args.command == TASKS:
            for task in select(options, CLI).catalogue.values():
                shots = ",".join(map(str, task.num_fewshot))
                sys.stdout.write(f"{task.name}\t{task.category}\t{shots}-shot\t{task.data}\n")
            return 0
        from eval_gauntlet.job import run  # torch: imported only to score

        report = run(options)
    except (GauntletError, FolderBusy) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BUSY if isinstance(exc, FolderBusy) else EXIT_BAD_INPUT
    return EXIT_SKIPPED if report is not None and report.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
