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
Exit status: 0 when trained or already finished, 2 for a recipe that cannot run, 1 when a full
disk stopped training (one line; the newest complete checkpoint is what a relaunch resumes from).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from biomedlm.autoresume import clear_stale_download, repair_save_folder
from biomedlm.outputs import check_outputs
from biomedlm.recipe import RecipeError, TrainingSettings, load_recipe, resolved
from data_prep.stages import disk_full

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
    from biomedlm.relaunch import check_relaunch, record_launch

    try:
        recipe = load_recipe(args[0], args[1:])
        plain = resolved(recipe)
        check_outputs(recipe)
        if recipe.autoresume:  # a checkpoint cut off by a crash never blocks the resume
            repair_save_folder(recipe.save_folder)
        finished = check_relaunch(recipe, plain)
        if finished is not None:
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

    from biomedlm.callbacks.hf_export import register

    register()  # `hf_checkpointer` exports follow the umask
    try:
        train(OmegaConf.create(cfg))
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


if __name__ == "__main__":
    sys.exit(main())
