"""Prompts exactly as lm-evaluation-harness 0.4.13 builds them, and seeded few-shot selection.

A prompt is lm-eval's plain-text ``fewshot_context``: the task description, then each few-shot
example as ``query + " " + answer + "\\n\\n"``, then the item's query; each choice is scored
as the continuation ``" " + choice`` (lm-eval's default ``target_delimiter``). The queries are
those of lm-eval's ``medqa_4options`` (``preprocess_medqa.doc_to_text``), ``pubmedqa``
(``preprocess_pubmedqa.doc_to_text``) and ``mmlu_<subject>`` (``mmlu/default`` template and
description); the tests compare them with lm-eval's own functions.

Few-shot examples are drawn per item with a generator seeded by (seed, task, item key), so a
``--limit`` run or another item order gets the same examples; an example is never the item
itself, nor a row with the same question and options.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eval_gauntlet.data import Item
from eval_gauntlet.errors import GauntletError

TARGET_DELIMITER = " "  # between a query and its answer (lm-eval TaskConfig default)
FEWSHOT_DELIMITER = "\n\n"  # after each few-shot example (lm-eval TaskConfig default)


def _medqa_query(item: Item) -> str:
    answers = "".join(f"{letter}. {text}\n" for letter, text in item.options.items())
    return f"Question: {item.question}\n{answers}Answer:"


def _pubmedqa_query(item: Item) -> str:
    abstract, newline, question = item.question.rpartition("\n")
    if not newline:
        raise GauntletError(
            f"{item.source}: pubmedqa format needs the context paragraphs, then the question "
            "on the last line"
        )
    return f"Abstract: {abstract}\nQuestion: {question}\nAnswer:"


def _mmlu_query(item: Item) -> str:
    options = "".join(f"\n{letter}. {text}" for letter, text in item.options.items())
    return f"{item.question.strip()}{options}\nAnswer:"


def _mmlu_description(item: Item) -> str:
    if item.subject is None:
        return ""
    subject = item.subject.replace("_", " ")
    return f"The following are multiple choice questions (with answers) about {subject}.\n\n"


def _letters(item: Item) -> list[str]:
    return list(item.options)


def _option_texts(item: Item) -> list[str]:
    return list(item.options.values())


def _no_description(item: Item) -> str:
    return ""


@dataclass(frozen=True)
class PromptFormat:
    """How an item becomes lm-eval's description, query (doc_to_text) and choices."""

    query: Callable[[Item], str]
    choices: Callable[[Item], list[str]]  # what is scored; the gold is ``choices[item.gold]``
    description: Callable[[Item], str] = _no_description


FORMATS: dict[str, PromptFormat] = {
    "medqa_4options": PromptFormat(query=_medqa_query, choices=_letters),
    "pubmedqa": PromptFormat(query=_pubmedqa_query, choices=_option_texts),
    "mmlu": PromptFormat(query=_mmlu_query, choices=_letters, description=_mmlu_description),
}


@dataclass(frozen=True)
class Prompt:
    """One item ready to score: the context and the choices to continue it with."""

    item: Item
    context: str
    choices: list[str]  # choice texts without the delimiter; acc_norm divides by their length
    gold: int
    fewshot_keys: list[str] = field(default_factory=list)

    @property
    def continuations(self) -> list[str]:
        """The strings scored after ``context``, one per choice."""
        return [TARGET_DELIMITER + choice for choice in self.choices]


def render(fmt: PromptFormat, item: Item, shots: Sequence[Item] = ()) -> Prompt:
    """The prompt for ``item`` with ``shots`` as solved examples before it."""
    examples = "".join(
        fmt.query(shot) + TARGET_DELIMITER + fmt.choices(shot)[shot.gold] + FEWSHOT_DELIMITER
        for shot in shots
    )
    return Prompt(
        item=item,
        context=fmt.description(item) + examples + fmt.query(item),
        choices=fmt.choices(item),
        gold=item.gold,
        fewshot_keys=[shot.key for shot in shots],
    )


def _same_question(a: Item, b: Item) -> bool:
    return a.question == b.question and a.options == b.options


def select_fewshot(item: Item, pool: Sequence[Item], k: int, *, seed: int, task: str) -> list[Item]:
    """``k`` examples from ``pool`` for ``item``: seeded per item, never the item itself."""
    if k == 0:
        return []
    candidates = [other for other in pool if not _same_question(other, item)]
    if len(candidates) < k:
        raise GauntletError(
            f"{task}: {k}-shot needs {k} few-shot examples besides {item.source}; "
            f"the pool has {len(candidates)}"
        )
    rng = random.Random(f"{seed}:{task}:{item.key}")
    return rng.sample(candidates, k)


def build_prompts(
    task: str,
    format_name: str,
    items: Sequence[Item],
    pool: Sequence[Item],
    shots: int,
    *,
    seed: int,
) -> list[Prompt]:
    """Prompts for ``items`` with ``shots`` examples each drawn from ``pool``."""
    fmt = FORMATS[format_name]
    return [
        render(fmt, item, select_fewshot(item, pool, shots, seed=seed, task=task)) for item in items
    ]
