"""The main job end to end on the embedded sample, ending on one screen that says what happened.

Usage (from the repository root)::

    python -m eval_gauntlet.demo              # make demo
    python -m eval_gauntlet.demo --verbose    # make demo V=1: every stage's output on the console

The stages are the commands the docs show, run one after another: prepare the sample
(``data_prep``), pretrain the debug recipe (``biomedlm.train``), score its checkpoints
(``eval_gauntlet score``), fine-tune the last one three ways (PubMedQA, MedQA, MedQuAD answers).
Each writes its output to ``runs/debug-cpu/logs/<stage>.log``; the console gets a line as it
starts and one as it ends. The previous demo run (``runs/debug-cpu``) is removed first. Exit
status: 0, or that of the first stage that fails (the end of its log is shown).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from eval_gauntlet.demo.runner import Stage, run_stages
from eval_gauntlet.demo.screen import end_screen

RUN = Path("runs/debug-cpu")  # the debug recipe's run_dir
EVAL = RUN / "eval"
INIT = RUN / "hf" / "huggingface" / "ba60"  # the debug run's last export: what is fine-tuned


def _finetune(recipe: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "biomedlm.train", f"recipes/finetune/{recipe}.yaml",
            f"model.init_from={INIT}", f"run_dir={RUN}/finetune/{recipe}", f"eval.out={EVAL}")  # fmt: skip


def stages() -> list[Stage]:
    """The demo's commands (the Makefile's prep-data, train, eval, finetune-demo, generate-demo)."""
    return [
        Stage("prep-data", "PubMed sample -> clean text -> tokenizer -> MDS shards",
              (sys.executable, "-m", "data_prep", "recipes/data/sample.yaml"),
              "a tokenizer and MDS shards in outputs/prep/sample"),
        Stage("train", "pretrain a tiny BioMedLM (recipes/pretrain/debug-cpu.yaml, 60 batches)",
              (sys.executable, "-m", "biomedlm.train", "recipes/pretrain/debug-cpu.yaml"),
              f"3 checkpoints in {RUN}/checkpoints, their exports in {RUN}/hf"),
        Stage("eval", "score each checkpoint in context (100 seeded items per task)",
              (sys.executable, "-m", "eval_gauntlet", "score", f"{RUN}/checkpoints",
               "--out", str(EVAL), "--settle", "1", "--sample", "100"),
              f"rows in {EVAL}/results.jsonl"),
        Stage("finetune-pubmedqa", f"fine-tune {INIT.name}: PubMedQA yes/no/maybe (450 train items)",
              _finetune("pubmedqa-debug-cpu"), "its test scores joined the same table"),
        Stage("finetune-medqa", f"fine-tune {INIT.name}: multiple choice on the shipped MedQA file",
              _finetune("medqa-debug-cpu"), "its test scores joined the same table"),
        Stage("finetune-patient-qa", f"fine-tune {INIT.name}: answer MedQuAD's patient questions",
              _finetune("patient-qa-debug-cpu"), f"its answers in {EVAL}/samples"),
    ]  # fmt: skip


def demo(steps: Sequence[Stage], run: Path, eval_dir: Path, out: TextIO, verbose: bool) -> int:
    """Run ``steps`` afresh in ``run`` (logs in ``run/logs``), then show the end screen."""
    shutil.rmtree(run, ignore_errors=True)
    logs = None if verbose else run / "logs"
    where = "each stage's output below" if logs is None else f"each stage's output in {logs}"
    count = f"{len(steps)} stage" + ("s" if len(steps) > 1 else "")
    out.write(f"The pipeline on the embedded sample, {count} ({where}):\n")
    status = run_stages(steps, logs, out)
    if status != 0:
        return status
    out.write("\n".join(end_screen(eval_dir)) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval_gauntlet.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--verbose", action="store_true", help="every stage's output on the console"
    )
    args = parser.parse_args(argv)
    try:
        return demo(stages(), RUN, EVAL, sys.stdout, args.verbose)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
