"""Prompts and few-shot draws exactly as lm-evaluation-harness 0.4.13 makes them.

A prompt is lm-eval's ``fewshot_context``: description, each example as ``query + " " + answer
+ "\\n\\n"``, the item's query; each choice is scored as ``" " + choice``. The queries are those
of lm-eval's ``medqa_4options``, ``pubmedqa``, ``mmlu_<subject>`` and ``medmcqa`` (the tests
compare them with lm-eval's functions); ``lettered`` is ours. Lettered formats also carry a
cloze prompt for ``gold_text_bpb`` (lm-eval's ``mmlu_<subject>_continuation`` layout). Few-shot
draws follow ``lm_eval/api/samplers.py``: one ``random.Random(seed)`` walks the file in order;
the task's own file as the pool, ``k + 1`` are drawn and the item removed (docs/evaluation.md).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eval_gauntlet.errors import GauntletError
from medtasks.formats import Item

TARGET_DELIMITER = " "  # between a query and its answer (lm-eval TaskConfig default)
FEWSHOT_DELIMITER = "\n\n"  # after each few-shot example (lm-eval TaskConfig default)
SAMPLERS = ("default", "first_n")  # lm-eval's names: ContextSampler, FirstNSampler
Text = Callable[[Item], str]  # a part of a prompt, made from an item


def _listed(item: Item) -> str:
    """The options as ``A. text`` lines, each ending in a newline."""
    return "".join(f"{letter}. {text}\n" for letter, text in item.options.items())


def _lettered_query(item: Item) -> str:
    return f"Question: {item.question}\n{_listed(item)}Answer:"


def _medmcqa_query(item: Item) -> str:
    return f"Question: {item.question}\nChoices:\n{_listed(item)}Answer:"


def _pubmedqa_query(item: Item) -> str:
    abstract, newline, question = item.question.rpartition("\n")
    if not newline:
        raise GauntletError(
            f"{item.source}: pubmedqa format needs the context paragraphs, then the question "
            "on the last line"
        )
    return f"Abstract: {abstract}\nQuestion: {question}\nAnswer:"


def _mmlu_query(item: Item) -> str:
    return f"{item.question.strip()}\n{_listed(item)}Answer:"


def _cloze_query(item: Item) -> str:
    return f"Question: {item.question.strip()}\nAnswer:"  # lm-eval mmlu/continuation template


def _about_subject(questions: str) -> Text:
    """MMLU's description: ``The following are <questions> (with answers) about <subject>.``"""

    def description(item: Item) -> str:
        if item.subject is None:
            return ""
        subject = item.subject.replace("_", " ")
        return f"The following are {questions} (with answers) about {subject}.\n\n"

    return description


def _gold_text(item: Item) -> str:
    return item.options[item.answer]


def _letters(item: Item) -> list[str]:
    return list(item.options)


def _no_description(item: Item) -> str:
    return ""


@dataclass(frozen=True)
class LmEvalTask:
    """What lm-eval 0.4.13's task of a format does, so a result can say whether it matches."""

    name: str  # lm-eval's task name (MMLU: one per subject)
    acc_norm: bool  # acc_norm is in the task's metric_list
    fewshot_split: str  # where its few-shot examples come from
    sampler: str  # its fewshot_config sampler


@dataclass(frozen=True)
class PromptFormat:
    """How an item becomes lm-eval's description, query (doc_to_text) and choices."""

    name: str
    query: Text
    choices: Callable[[Item], list[str]]  # what is scored; the gold is ``choices[item.gold]``
    description: Text = _no_description
    letters: tuple[str, ...] | None = None  # the option letters a row must have, in order
    texts: tuple[str, ...] | None = None  # the option texts a row must have, in order
    lm_eval: LmEvalTask | None = None  # None: the gauntlet's own format
    # choices are letters: the question without its options, to score the gold option's text
    cloze: Text | None = None
    cloze_description: Text = _no_description

    def check(self, item: Item) -> None:
        """Fail, naming the row, when its options are not what this format shows and scores."""
        letters = list(item.options)
        want = list(self.letters) if self.letters else list(string.ascii_uppercase[: len(letters)])
        if self.texts is not None and list(item.options.values()) != list(self.texts):
            raise GauntletError(
                f"{item.source}: format {self.name} needs the options {', '.join(self.texts)} "
                f"in this order; the row has {', '.join(item.options.values())}"
            )
        if self.texts is None and letters != want:
            raise GauntletError(
                f"{item.source}: format {self.name} needs options {', '.join(want)} in this "
                f"order; the row has {', '.join(letters)}"
            )


ABCD = ("A", "B", "C", "D")
FORMATS: dict[str, PromptFormat] = {
    "medqa_4options": PromptFormat(
        "medqa_4options", _lettered_query, _letters, letters=ABCD,
        lm_eval=LmEvalTask("medqa_4options", acc_norm=True, fewshot_split="train",
                           sampler="default"),
        cloze=_cloze_query,
    ),
    "pubmedqa": PromptFormat(
        "pubmedqa", _pubmedqa_query, lambda item: list(item.options.values()),
        texts=("yes", "no", "maybe"),
        lm_eval=LmEvalTask("pubmedqa", acc_norm=False, fewshot_split="train", sampler="default"),
    ),
    "mmlu": PromptFormat(
        "mmlu", _mmlu_query, _letters, letters=ABCD,
        description=_about_subject("multiple choice questions"),
        lm_eval=LmEvalTask("mmlu_<subject>", acc_norm=False, fewshot_split="dev",
                           sampler="first_n"),
        cloze=_cloze_query, cloze_description=_about_subject("questions"),
    ),
    "medmcqa": PromptFormat(
        "medmcqa", _medmcqa_query, _letters, letters=ABCD,
        lm_eval=LmEvalTask("medmcqa", acc_norm=True, fewshot_split="train", sampler="default"),
        cloze=_cloze_query,
    ),
    "lettered": PromptFormat("lettered", _lettered_query, _letters, cloze=_cloze_query),
}  # fmt: skip


@dataclass(frozen=True)
class Prompt:
    """One item ready to score: the context and the choices to continue it with."""

    item: Item
    context: str
    choices: list[str]  # choice texts without the delimiter; acc_norm divides by their length
    gold: int
    fewshot_keys: list[str] = field(default_factory=list)
    cloze_context: str | None = None  # choices are letters: the cloze prompt for the gold text
    index: int | None = None  # the item's index in its task file (lm-eval's doc_id)

    @property
    def continuations(self) -> list[str]:
        """The strings scored after ``context``, one per choice."""
        return [TARGET_DELIMITER + choice for choice in self.choices]

    @property
    def gold_text(self) -> tuple[str, str]:
        """(context, continuation) of ``gold_text_bpb``: the cloze prompt's or the gold choice."""
        if self.cloze_context is None:
            return self.context, self.continuations[self.gold]
        return self.cloze_context, TARGET_DELIMITER + _gold_text(self.item)

    @property
    def gold_answer(self) -> str:
        """The gold answer's own text: its UTF-8 bytes divide ``gold_text_bpb``, as lm-eval's."""
        return self.choices[self.gold] if self.cloze_context is None else _gold_text(self.item)


def render(
    fmt: PromptFormat, item: Item, shots: Sequence[Item] = (), index: int | None = None
) -> Prompt:
    """The prompt (and cloze form) for ``item`` at ``index``, ``shots`` solved examples first."""

    def context(description: Text, query: Text, answer: Text) -> str:
        examples = (query(s) + TARGET_DELIMITER + answer(s) + FEWSHOT_DELIMITER for s in shots)
        return description(item) + "".join(examples) + query(item)

    cloze = None
    if fmt.cloze is not None:
        cloze = context(fmt.cloze_description, fmt.cloze, _gold_text)
    return Prompt(
        item=item,
        context=context(fmt.description, fmt.query, lambda shot: fmt.choices(shot)[shot.gold]),
        choices=fmt.choices(item),
        gold=item.gold,
        fewshot_keys=[shot.key for shot in shots],
        cloze_context=cloze,
        index=index,
    )


def _same_question(a: Item, b: Item) -> bool:
    return a.question == b.question and a.options == b.options


def draw_fewshot(
    items: Sequence[Item],
    pool: Sequence[Item],
    k: int,
    *,
    seed: int,
    sampler: str = "default",
    exclude_item: bool = False,
    task: str = "task",
) -> list[list[Item]]:
    """``k`` examples from ``pool`` per item as lm-eval draws them (``exclude_item``: not itself)."""
    if k == 0:
        return [[] for _ in items]
    if sampler not in SAMPLERS:
        raise GauntletError(f"{task}: unknown few-shot sampler {sampler!r}")
    need = k + 1 if exclude_item and sampler == "default" else k
    if len(pool) < need:
        raise GauntletError(
            f"{task}: {k}-shot with the {sampler} sampler needs {need} rows in the few-shot "
            f"pool; it has {len(pool)}"
        )
    rng = random.Random(seed)
    draws = []
    for item in items:
        if sampler == "first_n":
            others = [x for x in pool if not _same_question(x, item)] if exclude_item else pool
            if len(others) < k:
                raise GauntletError(
                    f"{task}: {k}-shot needs {k} few-shot examples besides {item.source}"
                )
            draws.append(list(others[:k]))
        elif not exclude_item:
            draws.append(rng.sample(list(pool), k))
        else:  # lm-eval draws k + 1, drops the item, and redraws if a duplicate left too few
            chosen = [x for x in rng.sample(list(pool), k + 1) if not _same_question(x, item)]
            if len(chosen) < k:
                others = [x for x in pool if not _same_question(x, item)]
                if len(others) < k:
                    raise GauntletError(
                        f"{task}: {k}-shot needs {k} few-shot examples besides {item.source}; "
                        f"the pool has {len(others)}"
                    )
                chosen = rng.sample(others, k)
            draws.append(chosen[:k])
    return draws


def build_prompts(
    task: str,
    format_name: str,
    items: Sequence[Item],
    pool: Sequence[Item],
    shots: int,
    *,
    seed: int,
    sampler: str = "default",
    exclude_item: bool = False,
    keep: Sequence[int] | None = None,
    draw_kept_only: bool = False,
) -> list[Prompt]:
    """Prompts for ``items`` at the indices ``keep`` (default all), each row checked against its
    format. The draws walk every item (a kept item gets a full run's examples), or only the kept
    ones with ``draw_kept_only``, as lm-eval's ``--samples``.
    """
    fmt = FORMATS[format_name]
    for item in (*items, *pool):
        fmt.check(item)
    indices = list(range(len(items)) if keep is None else keep)
    drawn = [items[i] for i in indices] if draw_kept_only else items
    draws = draw_fewshot(
        drawn, pool, shots, seed=seed, sampler=sampler, exclude_item=exclude_item, task=task
    )
    if draw_kept_only:
        return [render(fmt, items[i], d, i) for i, d in zip(indices, draws, strict=True)]
    return [render(fmt, items[i], draws[i], i) for i in indices]
