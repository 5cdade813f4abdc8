"""Launch a fine-tuning recipe: checks against this machine and the weights, then llm-foundry's config.

The parts every task shares are here: the machine checks, ``model.init_from`` as a Hugging Face
folder (:mod:`biomedlm.init_weights`: a Composer checkpoint or sharded folder is converted once;
its embedding must hold its own tokenizer, and ``tokenizer.path`` must be that vocabulary),
the maximum length against the weights' positions, and the trainer settings. Each task's module
(:data:`TASK_MODULES`) supplies the rest: its model, data loaders, tokenizer with added tokens and
its after-fit scoring, through ``foundry_sections(recipe, facts)``.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biomedlm.finetune.recipe import FinetuneRecipe
from biomedlm.foundry_config import trainer_settings
from biomedlm.init_weights import check_tokenizer, hf_folder
from biomedlm.preflight import check_machine
from biomedlm.recipe import RecipeError

TASK_MODULES = {
    "multiple_choice": "biomedlm.finetune.choice.launch",
    "classification": "biomedlm.finetune.choice.launch",
    "generation": "biomedlm.finetune.generation.launch",
}


@dataclass(frozen=True)
class FinetuneFacts:
    """What the launch found out, for the task's translation."""

    init_folder: Path  # a Hugging Face folder with model.init_from's weights
    tokenizer_dir: Path  # the tokenizer to start from (tokenizer.path, else the weights')
    on_gpu: bool
    n_positions: int  # the weights' context length


def prepare_finetune(recipe: FinetuneRecipe) -> dict[str, Any]:
    """Check ``recipe`` at launch and return llm-foundry's train config for it."""
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
    if not (tokenizer_dir / "tokenizer_config.json").is_file():
        raise RecipeError(f"tokenizer.path: no tokenizer at {tokenizer_dir}")
    check_tokenizer(recipe.model.init_from, folder, recipe.tokenizer.path)
    facts = FinetuneFacts(folder, tokenizer_dir, on_gpu, positions)
    module = importlib.import_module(TASK_MODULES[recipe.task])
    return {**trainer_settings(recipe), **module.foundry_sections(recipe, facts)}
