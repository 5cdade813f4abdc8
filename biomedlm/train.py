"""Train from a recipe: ``recipe.yaml [key=value ...]`` -> llm-foundry/Composer Trainer -> fit.

Usage (from the repository root)::

    composer train recipes/pretrain/debug-cpu.yaml                 # Composer's launcher
    composer -n 8 train recipes/pretrain/biomedlm-2.7b.yaml        # 8 GPUs
    python -m biomedlm.train recipes/pretrain/debug-cpu.yaml max_duration=20ba
    make train RECIPE=recipes/pretrain/debug-cpu.yaml

The fully resolved recipe is written to ``<run_dir>/recipe.yaml`` before training starts.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import yaml

from biomedlm.autoresume import clear_stale_download, repair_save_folder
from biomedlm.recipe import RecipeError, load_recipe, resolved

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        recipe = load_recipe(args[0], args[1:])
        from biomedlm.foundry_config import to_foundry

        cfg = to_foundry(recipe)
    except RecipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_dir = Path(recipe.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if recipe.autoresume:
        clear_stale_download(recipe.save_folder)
        repair_save_folder(recipe.save_folder)
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(resolved(recipe), sort_keys=False))
    from llmfoundry.command_utils import train
    from omegaconf import OmegaConf

    train(OmegaConf.create(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
