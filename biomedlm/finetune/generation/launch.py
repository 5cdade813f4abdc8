"""llm-foundry's sections for a generation recipe: tokenizer with the separator, rows, loaders, model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomedlm.finetune.export import task_callbacks
from biomedlm.finetune.generation.data import prepare_data
from biomedlm.finetune.recipe import FinetuneFacts, FinetuneRecipe, peft_config
from biomedlm.foundry_config import loader_section, tokenizer_section
from biomedlm.generation_layout import SEPARATOR
from biomedlm.settings import RecipeError
from biomedlm.vocabulary import save_with_tokens

PREPROCESS = "biomedlm.finetune.generation.rows:prompt_response"


def _loader(
    path: Path, part: str, recipe: FinetuneRecipe, on_gpu: bool, train: bool
) -> dict[str, Any]:
    dataset = {
        "hf_name": "json",
        "hf_kwargs": {"data_files": {part: str(path)}, "cache_dir": str(path.parent / ".cache")},
        "split": part,
        "preprocessing_fn": PREPROCESS,
        "max_seq_len": recipe.data.max_length,
        "decoder_only_format": True,
        "target_prompts": "none",  # loss on the response (target) and its EOS only
        "target_responses": "last",
        "allow_pad_trimming": True,  # batches cut to their longest row (after the first)
        "shuffle": train,
        "shuffle_seed": recipe.seed,
    }
    return loader_section("finetuning", recipe.data, on_gpu, drop_last=train, dataset=dataset)


def model_section(recipe: FinetuneRecipe, init_folder: Path, separator_id: int) -> dict[str, Any]:
    """The ``biomedlm`` model from ``init_folder``'s weights, with the recipe's dropout and LoRA;
    the separator's row trains with the adapters (frozen, it would stay the mean embedding).
    """
    model: dict[str, Any] = {
        "name": "biomedlm",
        "init_from": str(init_folder),
        "dropout": recipe.model.dropout,  # None: the weights' own
        "init_device": recipe.model.init_device,
        "attn_implementation": recipe.model.attn_implementation,
        "use_train_metrics": False,  # the loss is logged; validation has its own metrics
    }
    if recipe.model.lora is not None:
        model["peft_config"] = peft_config(recipe.model.lora, [separator_id])
    return model


def check_decoding(recipe: FinetuneRecipe, positions: int) -> None:
    """After-fit answers need room for a prompt beside ``eval.decoding.max_new_tokens``."""
    new_tokens = recipe.eval.decoding.max_new_tokens
    if recipe.eval.test_after_fit and positions and new_tokens >= positions:
        raise RecipeError(
            f"eval.decoding.max_new_tokens: {new_tokens} leaves no room for a prompt in "
            f"model.init_from's {positions} positions; set it below {positions} "
            f"(e.g. eval.decoding.max_new_tokens={positions // 4})"
        )


def check_train_rows(recipe: FinetuneRecipe, train_file: Path) -> None:
    """At least one whole batch of training rows (llm-foundry refuses fewer, after building the
    model: its loader drops a partial batch).
    """
    with train_file.open(encoding="utf-8") as lines:
        rows = sum(1 for _ in lines)
    batch = recipe.global_train_batch_size
    if rows < batch:
        raise RecipeError(
            f"data.train: {rows} training rows (after data.split and data.train_limit), fewer "
            f"than one batch (global_train_batch_size={batch}); add training data, or set "
            f"global_train_batch_size={rows} or fewer"
        )


def foundry_sections(recipe: FinetuneRecipe, facts: FinetuneFacts) -> dict[str, Any]:
    """The llm-foundry train-config sections of a generation recipe (writes tokenizer and rows)."""
    from transformers import AutoTokenizer

    check_decoding(recipe, facts.n_positions)
    run_dir = Path(recipe.run_dir)
    tokenizer_dir = save_with_tokens(facts.tokenizer_dir, [SEPARATOR], run_dir / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    files = prepare_data(recipe, tokenizer, SEPARATOR)
    check_train_rows(recipe, files["train"])
    sections: dict[str, Any] = {
        "max_seq_len": recipe.data.max_length,
        "model": model_section(
            recipe, facts.init_folder, tokenizer.convert_tokens_to_ids(SEPARATOR)
        ),
        "tokenizer": tokenizer_section(tokenizer_dir, recipe.data.max_length),
        "train_loader": _loader(files["train"], "train", recipe, facts.on_gpu, True),
        "callbacks": task_callbacks(recipe),
    }
    if "validation" in files:
        sections["eval_loader"] = _loader(
            files["validation"], "validation", recipe, facts.on_gpu, False
        )
    return sections
