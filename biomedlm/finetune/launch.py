"""The fine-tuning recipe kind: launch checks every family shares, then the family's sections.
A new family is one module and one entry in :data:`FAMILIES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from biomedlm.finetune import after_fit
from biomedlm.finetune.choice import launch as choice
from biomedlm.finetune.generation import launch as generation
from biomedlm.finetune.recipe import FinetuneFacts, FinetuneRecipe, has_task
from biomedlm.foundry_config import trainer_settings
from biomedlm.init_weights import check_tokenizer, hf_folder
from biomedlm.preflight import check_machine
from biomedlm.recipe_kinds import RecipeKind
from biomedlm.run_record import run_identity
from biomedlm.settings import RecipeError
from biomedlm.trained.kinds import has_tokenizer

Sections = Callable[[FinetuneRecipe, FinetuneFacts], dict[str, Any]]
FAMILIES: dict[str, Sections] = {
    "multiple_choice": choice.foundry_sections,
    "classification": choice.foundry_sections,
    "generation": generation.foundry_sections,
}


def prepare_finetune(recipe: FinetuneRecipe) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check ``recipe`` at launch; llm-foundry's train config for it and the run's identity."""
    on_gpu = check_machine(recipe)
    folder = hf_folder(recipe.model.init_from, Path(recipe.run_dir) / "init")
    config = json.loads((folder / "config.json").read_text())
    positions = int(config.get("n_positions", config.get("max_position_embeddings", 0)))
    if positions and positions < recipe.data.max_length:
        raise RecipeError(
            f"data.max_length: {recipe.data.max_length} but model.init_from "
            f"({recipe.model.init_from}) has {positions} positions; set data.max_length={positions}"
        )
    tokenizer_dir = Path(recipe.tokenizer.path) if recipe.tokenizer.path else folder
    if not has_tokenizer(tokenizer_dir):
        raise RecipeError(f"tokenizer.path: no tokenizer at {tokenizer_dir}")
    check_tokenizer(recipe.model.init_from, folder, recipe.tokenizer.path)
    facts = FinetuneFacts(folder, tokenizer_dir, on_gpu, positions)
    cfg = {**trainer_settings(recipe), **FAMILIES[recipe.task](recipe, facts)}
    return cfg, run_identity(cfg["tokenizer"]["name"], {})


FINETUNING = RecipeKind(FinetuneRecipe, has_task, prepare_finetune, after_fit.after_fit_work)
