"""The head :func:`biomedlm.trained.load.load` builds a saved choice fine-tune into."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomedlm.finetune.choice.layout import LAYOUT_TOKENS
from biomedlm.finetune.choice.model import TASK_KEY, ChoiceModel
from biomedlm.finetune.choice.readers import LABELS
from biomedlm.finetune.recipe import FinetuneRecipe
from biomedlm.trained.load import Head, HeadMismatch


def _labels(config: dict[str, Any] | None, recipe: FinetuneRecipe) -> list[str]:
    """The labels a saved config names (checked to be the recipe's task); a base's: the format's."""
    if config is None:  # adapters over the weights they were trained from: no head saved yet
        return list(LABELS[recipe.data.format]) if recipe.task == "classification" else []
    found = config.get(TASK_KEY)
    if found != recipe.task:
        raise HeadMismatch(
            f"not a {recipe.task} model (its config says {TASK_KEY}: {found!r}); "
            "score it with the recipe it was fine-tuned with"
        )
    if recipe.task != "classification":
        return []
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]


def choice_head(recipe: FinetuneRecipe) -> Head:
    """The :class:`~biomedlm.trained.load.Head` making ``recipe``'s model from what was saved."""

    def build(
        folder: Path,
        tokenizer: Any,
        *,
        config: dict[str, Any] | None,
        pretrained: bool,
        peft: dict[str, Any] | None,
    ) -> ChoiceModel:
        lora = recipe.model.lora
        if not pretrained and (peft is not None) != (lora is not None):
            raise HeadMismatch(
                f"the run {'used' if lora is None else 'did not use'} LoRA; set model.lora as "
                "the run's recipe did"
            )
        return ChoiceModel(
            tokenizer,
            str(folder),
            recipe.task,
            labels=_labels(config, recipe),
            layout_tokens=LAYOUT_TOKENS[recipe.task],
            attn_implementation=recipe.model.attn_implementation,
            pretrained=pretrained,
            lora=vars(lora) if lora is not None and not pretrained else None,
        )

    return build
