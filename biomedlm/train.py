"""Train from a recipe: ``recipe.yaml [key=value ...]`` -> llm-foundry/Composer Trainer -> fit.

Usage (from the repository root)::

    composer train recipes/pretrain/debug-cpu.yaml                 # Composer's launcher
    composer -n 8 train recipes/pretrain/biomedlm-2.7b.yaml        # 8 GPUs
    python -m biomedlm.train recipes/pretrain/debug-cpu.yaml max_duration=20ba
    composer train recipes/finetune/pubmedqa.yaml model.init_from=PATH
    make train RECIPE=recipes/pretrain/debug-cpu.yaml

Every recipe kind shares this entry point. Exit status: 0 when trained or already finished, 2
for a recipe that cannot run, 1 when a full disk stopped training (docs/pretraining.md).
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from pathlib import Path

from biomedlm.autoresume import clear_stale_download, repair_save_folder
from biomedlm.known_warnings import silence_known_warnings
from biomedlm.outputs import check_outputs
from biomedlm.recipe_files import resolved
from biomedlm.relaunch import AfterFitCompleted, check_identity, check_relaunch
from biomedlm.run_lock import run_lock
from biomedlm.settings import RecipeError, TrainingSettings
from data_prep.stages import disk_full


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    silence_known_warnings()
    with ExitStack() as held:  # the run's lock, held until training ends
        return launch(args, held)


def launch(args: list[str], held: ExitStack) -> int:
    """Check the recipe and the run it resumes, then train; the run's lock joins ``held``."""
    from biomedlm.callbacks.run_record import run_record_callback
    from biomedlm.recipe_kinds import kind_for, load_recipe  # llm-foundry: after main's filters

    try:
        # the run's lock, before any file of the run is touched: the schema alone names run_dir,
        # so a second launch stops before the components are checked
        schema = load_recipe(args[0], args[1:], components=False)
        check_outputs(schema)  # where the run writes, before its lock is made there
        held.enter_context(run_lock(Path(schema.run_dir)))
        recipe = load_recipe(args[0], args[1:])
        plain = resolved(recipe)
        if recipe.autoresume:  # a checkpoint cut off by a crash never blocks the resume
            repair_save_folder(recipe.save_folder, recipe.run_name)
        kind = kind_for(recipe)
        finished = check_relaunch(recipe, plain)
        work = kind.after_fit(recipe, finished) if finished is not None else None
        if finished is not None and work is None:
            print(finished)
            return 0
        if work is not None:  # a crash after the last checkpoint cut it off
            print(work.line)
        cfg, identity = kind.prepare(recipe)
        # Composer's bar only on a terminal: in a file or pipe, each update is a line
        cfg["progress_bar"] = cfg["progress_bar"] and sys.stderr.isatty()
        check_identity(recipe, identity)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # recorded once training starts: a launch that fails before never becomes the recipe in effect
    cfg["callbacks"] = {**cfg["callbacks"], **run_record_callback(recipe, plain, identity)}
    if recipe.autoresume:
        clear_stale_download(recipe.save_folder, recipe.run_name)
    from llmfoundry.command_utils import train
    from omegaconf import OmegaConf

    from biomedlm.callbacks.hf_export import register

    register()  # `hf_checkpointer` exports follow the umask
    if work is not None:
        work.complete(cfg)
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


if __name__ == "__main__":
    sys.exit(main())
