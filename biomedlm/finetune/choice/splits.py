"""The examples of each part of a recipe's data: its files, ``data.split``, limits, subjects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from biomedlm.finetune.choice.readers import DataError, Example, read_file, resolve
from biomedlm.finetune.recipe import DataConfig, TestSetConfig


def read_entries(
    key: str, entries: Sequence[str], data: DataConfig, part: str, subject: str | None = None
) -> list[Example]:
    """Every example of the files ``entries`` name (``key`` names them in messages)."""
    examples = []
    for source in resolve(key, entries, data.format):
        examples += read_file(source, part, data.cop_base)
    if subject is not None:
        examples = [e for e in examples if e.subject == subject]
        if not examples:
            raise DataError(f"{key}: no question of subject {subject!r} in {', '.join(entries)}")
    return examples


def part_examples(data: DataConfig, part: str) -> list[Example]:
    """The examples of ``part`` (train, validation or test); empty when the recipe has none."""
    listed = {"train": data.train, "validation": data.validation, "test": data.test}[part]
    split = data.split
    if part == "train" or (not listed and split is not None):
        examples = read_entries("data.train", data.train, data, "train")
        if split is not None:  # the train part, or what data.split takes out of it
            examples = [e for e in examples if split.part(e.question) == part]
    elif listed:
        examples = read_entries(f"data.{part}", listed, data, part)
    else:
        return []
    limit = {"train": data.train_limit, "test": data.test_limit}.get(part)
    return examples[:limit] if limit else examples


def extra_examples(name: str, test_set: TestSetConfig, data: DataConfig) -> list[Example]:
    """The examples of one ``eval.extra`` test set, read in its own format."""
    examples = read_entries(
        f"eval.extra.{name}.path",
        test_set.path,
        replace(data, format=test_set.format),
        "test",
        test_set.subject,
    )
    return examples[: data.test_limit] if data.test_limit else examples
