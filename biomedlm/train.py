"""Train from a recipe: ``recipe.yaml [key=value ...]`` -> llm-foundry/Composer Trainer -> fit.

Usage (from the repository root)::

    composer train recipes/pretrain/debug-cpu.yaml                 # Composer's launcher
    composer -n 8 train recipes/pretrain/biomedlm-2.7b.yaml        # 8 GPUs
    python -m biomedlm.train recipes/pretrain/debug-cpu.yaml max_duration=20ba
    composer train recipes/finetune/pubmedqa.yaml model.init_from=PATH
    make train RECIPE=recipes/pretrain/debug-cpu.yaml

Pretraining and fine-tuning recipes share this entry point (a fine-tuning recipe has a ``task``).
The recipe is checked whole before anything is built (:mod:`biomedlm.recipe`), then against this
machine and its files (:mod:`biomedlm.preflight`) and against the run it resumes
(:mod:`biomedlm.relaunch`); each launch's resolved recipe is kept in ``<run_dir>/launches/``.
One launch at a time per ``run_dir`` (:mod:`biomedlm.run_lock`).
A finished fine-tune whose export or after-fit scores a crash cut off gets them, without
training (:mod:`biomedlm.finetune.after_fit`).
Exit status: 0 when trained or already finished, 2 for a recipe that cannot run.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biomedlm.autoresume import clear_stale_download, repair_save_folder
from biomedlm.recipe import RecipeError, TrainingSettings, load_recipe, resolved
from biomedlm.run_lock import run_lock

if TYPE_CHECKING:
    from biomedlm.relaunch import Finished

log = logging.getLogger(__name__)


def prepare(recipe: TrainingSettings) -> dict[str, Any]:
    """Launch-time checks and the llm-foundry config of ``recipe`` (either kind)."""
    from biomedlm.recipe import Recipe

    if isinstance(recipe, Recipe):
        from biomedlm.foundry_config import to_foundry
        from biomedlm.preflight import preflight

        return to_foundry(recipe, preflight(recipe))
    from biomedlm.finetune.launch import prepare_finetune
    from biomedlm.finetune.recipe import FinetuneRecipe

    assert isinstance(recipe, FinetuneRecipe)
    return prepare_finetune(recipe)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with ExitStack() as held:  # the run's lock, held until training ends
        return launch(args, held)


def launch(args: list[str], held: ExitStack) -> int:
    """Check the recipe and the run it resumes, then train; the run's lock joins ``held``."""
    from biomedlm.relaunch import check_relaunch, record_launch

    try:
        # the run's lock, before any file of the run is touched: the schema alone names run_dir,
        # so a second launch stops at once, before the registry checks import llm-foundry
        held.enter_context(run_lock(Path(load_recipe(args[0], args[1:], components=False).run_dir)))
        recipe = load_recipe(args[0], args[1:])
        plain = resolved(recipe)
        if recipe.autoresume:  # a checkpoint cut off by a crash never blocks the resume
            repair_save_folder(recipe.save_folder)
        finished = check_relaunch(recipe, plain)
        missing = after_fit_missing(recipe, finished)
        if finished is not None and not missing:
            print(finished)
            return 0
        cfg = prepare(recipe)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_dir = Path(recipe.run_dir)
    if os.environ.get("RANK", "0") == "0":
        record_launch(run_dir, plain)
    if recipe.autoresume:
        clear_stale_download(recipe.save_folder)
    from llmfoundry.command_utils import train
    from omegaconf import OmegaConf

    from biomedlm.finetune.after_fit import AfterFitCompleted, complete_in

    if missing:
        complete_in(cfg, missing)
    try:
        train(OmegaConf.create(cfg))
    except AfterFitCompleted as done:
        print(done)
    return 0


def after_fit_missing(recipe: TrainingSettings, finished: Finished | None) -> dict[str, str]:
    """What a finished fine-tune lacks of its work after the last checkpoint, said in one line.

    Empty when the run is to train, and for pretraining runs (nothing after their last save).
    """
    from biomedlm.finetune.recipe import FinetuneRecipe

    if finished is None or not isinstance(recipe, FinetuneRecipe):
        return {}
    from biomedlm.finetune.after_fit import missing, relaunch_line

    found = missing(recipe, finished.progress)
    if found:
        print(relaunch_line(recipe, finished, found))
    return found


if __name__ == "__main__":
    sys.exit(main())
