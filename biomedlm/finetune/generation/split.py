"""Train / validation / test parts of the examples: no question in two parts, none empty.

``data.split`` hashes the normalised question, not the id: MedQuAD repeats a question under
different ids. A question also in a later part (test, then validation) is dropped from the
earlier; each part is ordered by id, exact repeats dropped, one example per scored question.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from biomedlm.finetune.generation.readers import DataError, Example
from biomedlm.finetune.recipe import SplitConfig, question_key

PARTS = ("train", "validation", "test")


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
    """The three parts: hashed out of ``train`` by ``split``, or as given.

    ``validation`` / ``test`` None: the part is not asked for (it stays empty, no error).
    """
    dropped: dict[str, Counter[str]] = {part: Counter() for part in PARTS}
    if split is not None:
        raw: dict[str, list[Example]] = {part: [] for part in PARTS}
        for example in train:
            raw[split.part(example.source)].append(example)
        asked = {"train": True, "validation": split.validation > 0, "test": split.test > 0}
    else:
        raw = {"train": train, "validation": validation or [], "test": test or []}
        asked = {"train": True, "validation": validation is not None, "test": test is not None}
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
            how = "data.split" if split is not None else f"data.{part}"
            raise DataError(
                f"{how}: the {part} part came out empty ({len(train)} training examples read); "
                f"give it more examples or a larger share"
            )
    return Splits(parts, dropped)
