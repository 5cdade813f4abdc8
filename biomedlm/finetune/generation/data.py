"""A generation recipe's data: its files read, split, limited; the rows written for the loader.

Train / validation / test parts: no question in two parts, none empty. ``data.split`` hashes the
normalised question, not the id: MedQuAD repeats a question under different ids. A question also
in a later part (test, then validation) is dropped from the earlier; each part is ordered by id,
exact repeats dropped, one example per scored question.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biomedlm.finetune.generation.readers import DataError, Example, read_examples
from biomedlm.finetune.generation.rows import write_rows
from biomedlm.finetune.recipe import PARTS, FinetuneRecipe, SplitConfig, question_key
from biomedlm.settings import RecipeError

log = logging.getLogger(__name__)


@dataclass
class Splits:
    """The examples of each part, and what was dropped on the way (per part, per reason)."""

    parts: dict[str, list[Example]]
    dropped: dict[str, Counter[str]] = field(default_factory=dict)


def _dedupe(
    examples: Iterable[Example], one_per_question: bool, dropped: Counter[str]
) -> list[Example]:
    seen_pairs: set[tuple[str, str]] = set()
    seen_questions: set[str] = set()
    kept = []
    for example in sorted(examples, key=lambda e: e.id):  # whatever order the files came in
        key = question_key(example.source)
        if (key, example.target) in seen_pairs:
            dropped["repeated_pair"] += 1
        elif one_per_question and key in seen_questions:
            dropped["repeated_question"] += 1
        else:
            seen_pairs.add((key, example.target))
            seen_questions.add(key)
            kept.append(example)
    return kept


def make_splits(
    train: list[Example],
    validation: list[Example] | None,
    test: list[Example] | None,
    split: SplitConfig | None = None,
) -> Splits:
    """The three parts: as given, else hashed out of ``train`` by ``split`` (a part is given or
    split out, not both: :class:`~biomedlm.finetune.recipe.DataConfig` checks).

    ``validation`` / ``test`` None: the part is not asked for (it stays empty, no error).
    """
    dropped: dict[str, Counter[str]] = {part: Counter() for part in PARTS}
    raw: dict[str, list[Example]] = {"train": train, "validation": [], "test": []}
    asked = {"train": True, "validation": False, "test": False}
    if split is not None:
        raw["train"] = []
        for example in train:
            raw[split.part(example.source)].append(example)
        asked |= {"validation": split.validation > 0, "test": split.test > 0}
    for part, given in (("validation", validation), ("test", test)):
        if given is not None:
            raw[part], asked[part] = given, True
    parts = {
        part: _dedupe(raw[part], one_per_question=part != "train", dropped=dropped[part])
        for part in PARTS
    }
    later: set[str] = set()
    for part in ("test", "validation", "train"):  # a question stays in test, then validation
        reason = "question_in_" + ("test" if part == "validation" else "eval_parts")
        kept = []
        for example in parts[part]:
            if question_key(example.source) in later:
                dropped[part][reason] += 1
            else:
                kept.append(example)
        parts[part] = kept
        later |= {question_key(e.source) for e in kept}
    for part in PARTS:
        if asked[part] and not parts[part]:
            given = {"validation": validation, "test": test}.get(part)
            how = "data.split" if split is not None and given is None else f"data.{part}"
            raise DataError(
                f"{how}: the {part} part came out empty ({len(train)} training examples read); "
                f"give it more examples or a larger share"
            )
    return Splits(parts, dropped)


def split_examples(recipe: FinetuneRecipe) -> tuple[Splits, dict[str, Any]]:
    """The recipe's examples per part (limits applied), and what was read and dropped: the same
    parts at launch, after fit and when a checkpoint is scored later.
    """
    data = recipe.data
    train, skipped = read_examples(data.format, data.train, "data.train")
    given = {}
    for part in ("validation", "test"):
        if getattr(data, part):
            given[part], more = read_examples(data.format, getattr(data, part), f"data.{part}")
            skipped += more
    splits = make_splits(train, given.get("validation"), given.get("test"), data.split)
    for part, limit in (("train", data.train_limit), ("test", data.test_limit)):
        splits.parts[part] = splits.parts[part][:limit]  # None: all
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
