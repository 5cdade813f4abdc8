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
(:mod:`biomedlm.relaunch`); once it trains, its resolved recipe and the identity of its tokenizer
and data are recorded beside its checkpoints (:mod:`biomedlm.run_record`) and in
``<run_dir>/launches/``. One launch at a time per ``run_dir`` (:mod:`biomedlm.run_lock`).
A finished fine-tune whose export or after-fit scores a crash cut off gets them, without
training (:mod:`biomedlm.finetune.after_fit`).
Exit status: 0 when trained or already finished, 2 for a recipe that cannot run, 1 when a full
disk stopped training (one line; the newest complete checkpoint is what a relaunch resumes from).
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biomedlm.autoresume import clear_stale_download, repair_save_folder
from biomedlm.outputs import check_outputs
from biomedlm.recipe import RecipeError, TrainingSettings, load_recipe, resolved
from biomedlm.run_lock import run_lock
from data_prep.stages import disk_full

if TYPE_CHECKING:
    from biomedlm.relaunch import Finished

log = logging.getLogger(__name__)


def prepare(recipe: TrainingSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """Launch-time checks, the llm-foundry config of ``recipe`` (either kind) and the identity of
    the tokenizer and training data it reads (:func:`biomedlm.run_record.run_identity`)."""
    from biomedlm.recipe import Recipe
    from biomedlm.run_record import run_identity

    if isinstance(recipe, Recipe):
        from biomedlm.foundry_config import to_foundry
        from biomedlm.preflight import preflight

        facts = preflight(recipe)
        cfg = to_foundry(recipe, facts)
        return cfg, run_identity(cfg["tokenizer"]["name"], facts.data)
    from biomedlm.finetune.launch import prepare_finetune
    from biomedlm.finetune.recipe import FinetuneRecipe

    assert isinstance(recipe, FinetuneRecipe)
    cfg = prepare_finetune(recipe)
    return cfg, run_identity(cfg["tokenizer"]["name"], {})


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
    from biomedlm.callbacks.run_record import run_record_callback
    from biomedlm.relaunch import check_identity, check_relaunch

    try:
        # the run's lock, before any file of the run is touched: the schema alone names run_dir,
        # so a second launch stops at once, before the registry checks import llm-foundry
        schema = load_recipe(args[0], args[1:], components=False)
        check_outputs(schema)  # where the run writes, before its lock is made there
        held.enter_context(run_lock(Path(schema.run_dir)))
        recipe = load_recipe(args[0], args[1:])
        plain = resolved(recipe)
        if recipe.autoresume:  # a checkpoint cut off by a crash never blocks the resume
            repair_save_folder(recipe.save_folder)
        finished = check_relaunch(recipe, plain)
        missing = after_fit_missing(recipe, finished)
        if finished is not None and not missing:
            print(finished)
            return 0
        cfg, identity = prepare(recipe)
        check_identity(recipe, identity)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # recorded once training starts: a launch that fails before never becomes the recipe in effect
    cfg["callbacks"] = {**cfg["callbacks"], **run_record_callback(recipe, plain, identity)}
    if recipe.autoresume:
        clear_stale_download(recipe.save_folder)
    from llmfoundry.command_utils import train
    from omegaconf import OmegaConf

    from biomedlm.callbacks.hf_export import register
    from biomedlm.finetune.after_fit import AfterFitCompleted, complete_in

    register()  # `hf_checkpointer` exports follow the umask
    if missing:
        complete_in(cfg, missing)
    try:
        train(OmegaConf.create(cfg))
    except AfterFitCompleted as done:
        print(done)
    except Exception as exc:
        full = disk_full(exc)
        if full is None:
            raise
        print(f"error: {disk_full_line(recipe, full)}", file=sys.stderr)
        return 1
    return 0


def disk_full_line(recipe: TrainingSettings, full: OSError) -> str:
    """What a full disk did to the run, and how to go on (a cut-off checkpoint is removed then)."""
    folders = dict.fromkeys(f for f in (recipe.save_folder, recipe.run_dir) if f)
    where = f" writing {full.filename}" if full.filename else f" (under {', '.join(folders)})"
    resume = (
        "relaunch the same command: it resumes from the newest complete checkpoint"
        if recipe.autoresume and recipe.save_folder
        else "relaunch it"
    )
    return (
        f"no space left on device{where}; training stopped. Free space (or keep fewer "
        f"checkpoints: save_num_checkpoints_to_keep) and {resume}"
    )


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
