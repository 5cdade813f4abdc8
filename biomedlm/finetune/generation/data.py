"""A generation recipe's data: its files read, split, limited; the rows written for the loader."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from biomedlm.finetune.generation.readers import read_examples
from biomedlm.finetune.generation.rows import write_rows
from biomedlm.finetune.generation.split import Splits, make_splits
from biomedlm.finetune.recipe import FinetuneRecipe
from biomedlm.settings import RecipeError

log = logging.getLogger(__name__)


def split_examples(recipe: FinetuneRecipe) -> tuple[Splits, dict[str, Any]]:
    """The recipe's examples per part (limits applied), and what was read and dropped: the same
    parts at launch, after fit and when a checkpoint is scored later.
    """
    data = recipe.data
    if data.split is not None and (data.validation or data.test):
        raise RecipeError(
            "data.split makes validation and test parts from data.train; "
            "remove it, or remove data.validation / data.test"
        )
    train, skipped = read_examples(data.format, data.train, "data.train")
    given = {}
    for part in ("validation", "test"):
        if getattr(data, part):
            given[part], more = read_examples(data.format, getattr(data, part), f"data.{part}")
            skipped += more
    # with data.split, data.validation and data.test are empty (checked above)
    splits = make_splits(train, given.get("validation"), given.get("test"), data.split)
    for part, limit in (("train", data.train_limit), ("test", data.test_limit)):
        if limit is not None:
            splits.parts[part] = splits.parts[part][:limit]
    if recipe.eval.test_after_fit and not splits.parts["test"]:
        raise RecipeError(
            "eval.test_after_fit: the recipe has no test part; set data.test or data.split, "
            "or eval.test_after_fit=false"
        )
    manifest = {
        "format": data.format,
        "read": len(train) + sum(len(v) for v in given.values()),
        "skipped": dict(skipped),
        "dropped": {part: dict(c) for part, c in splits.dropped.items() if c},
        "examples": {part: len(v) for part, v in splits.parts.items()},
        "limits": {"train": data.train_limit, "test": data.test_limit},
    }
    return splits, manifest


def prepare_data(recipe: FinetuneRecipe, tokenizer: Any, separator: str) -> dict[str, Path]:
    """Read and split the recipe's data, write the rows into ``<run_dir>/data``; their files."""
    splits, manifest = split_examples(recipe)
    out_dir = Path(recipe.run_dir) / "data"
    files = write_rows(
        splits.parts, out_dir, tokenizer, recipe.data.max_length, separator, manifest
    )
    log.info(
        "data: %s; rows in %s (manifest.json)",
        ", ".join(f"{part} {len(v)}" for part, v in splits.parts.items()), out_dir,
    )  # fmt: skip
    return files
