"""``python -m eval_gauntlet finetuned CHECKPOINT RECIPE [key=value ...]``: score a saved fine-tune
on the test sets of the recipe it was trained with (docs/fine-tuning.md)::

    python -m eval_gauntlet finetuned runs/medqa/hf/huggingface/ba600 recipes/finetune/medqa.yaml
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from biomedlm.trained.kinds import TRUST_FLAG
from eval_gauntlet.errors import GauntletError

log = logging.getLogger(__name__)


def add_subcommand(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``finetuned`` subcommand's arguments."""
    cmd = sub.add_parser("finetuned", help="score a saved fine-tuned checkpoint on its recipe")
    cmd.add_argument("checkpoint", type=Path)
    cmd.add_argument("recipe", type=Path, help="the fine-tuning recipe it was trained with")
    cmd.add_argument("overrides", nargs="*", help="key=value recipe overrides (data.test=[...])")
    cmd.add_argument("--name", help="model name in the results (default: run-checkpoint)")
    cmd.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    cmd.add_argument(
        TRUST_FLAG,
        action="store_true",
        help="load a Composer checkpoint whose pickles name code beyond Composer's own types",
    )


def run(args: argparse.Namespace) -> None:
    """Load the checkpoint and score it on the recipe's test sets."""
    import torch

    from biomedlm.finetune.recipe import FinetuneRecipe
    from biomedlm.recipe_kinds import load_recipe
    from biomedlm.settings import RecipeError
    from eval_gauntlet.finetuned.scoring import load_finetuned, score_finetuned

    given = {o.split("=", 1)[0].strip() for o in args.overrides if "=" in o}
    overrides = list(args.overrides)
    if "model.init_from" not in given:  # required by the recipe, unused here
        overrides.append("model.init_from=unused")
    if "data.test" in given and not any(key.startswith("data.split") for key in given):
        overrides.append("data.split=null")  # the test set is the file given, not a share of train
    try:
        recipe = load_recipe(args.recipe, overrides, components=False)
    except RecipeError as exc:
        raise GauntletError(str(exc)) from None
    if not isinstance(recipe, FinetuneRecipe):
        raise GauntletError(f"{args.recipe}: not a fine-tuning recipe (it has no task)")
    if "model.init_from" not in given:
        recipe.model.init_from = None  # type: ignore[assignment]  # not known: not recorded
    if "data.test" in given and "eval.name" not in given:
        recipe.eval.name = "+".join(Path(p).stem for p in recipe.data.test)
        log.info("data.test given without eval.name: results named %s", recipe.eval.name)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    loaded = load_finetuned(args.checkpoint, recipe, device, trust=args.trust_checkpoint)
    checkpoint = replace(loaded.checkpoint, name=args.name) if args.name else loaded.checkpoint
    precision = "amp_bf16" if device.startswith("cuda") else "fp32"
    rows = score_finetuned(
        loaded.model, loaded.tokenizer, recipe, checkpoint, device=device, precision=precision
    )
    if not rows:
        raise GauntletError(f"{args.recipe}: no test set (data.test or eval.extra) to score")
    log.info("results in %s", recipe.eval.out)
