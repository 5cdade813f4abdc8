"""A multiple-choice or classification recipe as llm-foundry's train config sections; every data
file is read first, and the tokenizer saved with the layout's tokens in ``<run_dir>/tokenizer``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from biomedlm.finetune.choice.layout import LAYOUT_TOKENS, PAD
from biomedlm.finetune.choice.readers import (
    CHOICE_FORMATS,
    LABELS,
    extra_examples,
    part_examples,
    resolve,
)
from biomedlm.finetune.export import task_callbacks
from biomedlm.finetune.recipe import PARTS, FinetuneFacts, FinetuneRecipe
from biomedlm.foundry_config import loader_section, tokenizer_section
from biomedlm.recipe_files import resolved
from biomedlm.settings import RecipeError
from biomedlm.vocabulary import save_with_tokens

log = logging.getLogger(__name__)

NAME = "biomedlm_choice"  # the model and the data loader, in llm-foundry's registries


def labels_of(recipe: FinetuneRecipe) -> tuple[str, ...]:
    """The label names of a classification recipe (from its files' formats); () otherwise."""
    data = recipe.data
    entries = [*data.train, *data.validation, *data.test]
    formats = {source.format for source in resolve("data", entries, data.format)}
    formats |= {test_set.format for test_set in recipe.eval.extra.values()}
    choice = formats & set(CHOICE_FORMATS)
    if recipe.task == "multiple_choice":
        if formats - choice:
            raise RecipeError(
                f"data.format: {sorted(formats - choice)} are classification formats; "
                f"task multiple_choice reads {', '.join(CHOICE_FORMATS)}"
            )
        return ()
    label_sets = {LABELS[f] for f in formats if f in LABELS}
    if choice or len(label_sets) != 1:
        raise RecipeError(
            f"data.format: task classification needs files of one label set "
            f"({', '.join(LABELS)}), got {', '.join(sorted(formats))}"
        )
    return label_sets.pop()


def check_data(recipe: FinetuneRecipe) -> dict[str, int]:
    """Read every part and extra test set once; their sizes. Bad data: one RecipeError line."""
    sizes = {part: len(part_examples(recipe.data, part)) for part in PARTS}
    for name, test_set in recipe.eval.extra.items():
        sizes[name] = len(extra_examples(name, test_set, recipe.data))
    if not sizes["train"]:
        raise RecipeError("data.train: no training examples (check data.split and the files)")
    log.info("examples per part: %s", ", ".join(f"{k} {v}" for k, v in sizes.items()))
    return sizes


def _check_model(recipe: FinetuneRecipe) -> None:
    if recipe.model.init_device == "meta":
        raise RecipeError(
            "model.init_device: meta would leave model.init_from's weights unloaded; use cpu "
            "(or mixed, with FSDP on several GPUs: rank 0 loads, the others receive)"
        )
    fsdp = recipe.fsdp_config or {}
    if (
        recipe.task == "multiple_choice"
        and recipe.model.share_prompt
        and fsdp.get("activation_checkpointing")
        and fsdp.get("activation_checkpointing_reentrant", True)
    ):
        raise RecipeError(
            "fsdp_config.activation_checkpointing_reentrant: reentrant checkpointing drops the "
            "gradient through a question's keys and values that its options reuse; set "
            "fsdp_config.activation_checkpointing_reentrant=false (or model.share_prompt=false)"
        )


def _loader(recipe: FinetuneRecipe, part: str, on_gpu: bool) -> dict[str, Any]:
    return loader_section(
        NAME,
        recipe.data,
        on_gpu,
        drop_last=False,
        recipe_data=resolved(recipe)["data"],
        task=recipe.task,
        part=part,
        share_prompt=recipe.model.share_prompt,
        shuffle=part == "train",
        seed=recipe.seed,
    )


def foundry_sections(recipe: FinetuneRecipe, facts: FinetuneFacts) -> dict[str, Any]:
    """llm-foundry's model, tokenizer, loaders and callbacks for a choice/classification recipe."""
    sizes = check_data(recipe)
    labels = labels_of(recipe)
    _check_model(recipe)
    tokens = LAYOUT_TOKENS[recipe.task]
    tokenizer_dir = save_with_tokens(
        facts.tokenizer_dir, tokens, Path(recipe.run_dir) / "tokenizer", pad_token=PAD
    )
    model = recipe.model
    sections: dict[str, Any] = {
        "max_seq_len": recipe.data.max_length,
        "model": {
            "name": NAME,
            "pretrained_model_name_or_path": str(facts.init_folder),
            "task": recipe.task,
            "labels": list(labels),
            "layout_tokens": list(tokens),
            "init_device": model.init_device,
            "attn_implementation": model.attn_implementation,
            "dropout": model.dropout,
            "lora": vars(model.lora) if model.lora is not None else None,
        },
        "tokenizer": tokenizer_section(tokenizer_dir, recipe.data.max_length),
        "train_loader": _loader(recipe, "train", facts.on_gpu),
        "callbacks": task_callbacks(recipe),
        "accumulate_train_batch_on_tokens": False,  # the loss is a mean over questions
    }
    if sizes["validation"]:
        sections["eval_loader"] = _loader(recipe, "validation", facts.on_gpu)
    return sections
