"""The token layouts of the choice families, with added marker tokens (docs/fine-tuning.md).

Multiple choice: ``question [SEP]`` + `` option [SEP]`` per option; classification:
``[Context] context [Question] question [Answer]``, or (``data.layout: script``) the released
``run_seqcls_gpt.py``'s ``tokenizer(context, question)``. A long example loses the start of its
question or context, the part furthest from where it is scored (the script's: the end).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from biomedlm.finetune.choice.readers import Example

log = logging.getLogger(__name__)

PAD = "[PAD]"
SEP = "[SEP]"
CONTEXT, QUESTION, ANSWER = "[Context]", "[Question]", "[Answer]"
LAYOUT_TOKENS = {"multiple_choice": (SEP,), "classification": (CONTEXT, QUESTION, ANSWER)}


@dataclass(frozen=True)
class Encoded:
    """Token ids of one example: its prompt, and each option's continuation (multiple choice)."""

    prompt: tuple[int, ...]  # multiple choice: question + [SEP]; classification: everything
    options: tuple[tuple[int, ...], ...]  # multiple choice: " option [SEP]" each; else ()
    label: int
    truncated: int  # tokens cut to fit max_length


def _ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    if not texts:
        return []
    encoded = tokenizer(list(texts), add_special_tokens=False, verbose=False)  # long: cut below
    return list(encoded["input_ids"])


def _token(tokenizer: Any, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(f"the tokenizer has no {token} token; it is added at launch")
    return int(token_id)


def encode_choice(examples: Sequence[Example], tokenizer: Any, max_length: int) -> list[Encoded]:
    """Multiple-choice examples in the ``question [SEP]`` + `` option [SEP]`` layout."""
    sep = _token(tokenizer, SEP)
    questions = _ids(tokenizer, [e.question for e in examples])
    flat = _ids(tokenizer, [" " + option for e in examples for option in e.options])
    out, start = [], 0
    for example, question in zip(examples, questions, strict=True):
        options = [[*ids, sep] for ids in flat[start : start + len(example.options)]]
        start += len(example.options)
        cut = 0
        cap = max(2, max_length // 2)  # an option longer than half the budget keeps its start
        if max(map(len, options)) + len(question) + 1 > max_length:
            for i, ids in enumerate(options):
                if len(ids) > cap:
                    cut += len(ids) - cap
                    options[i] = [*ids[: cap - 1], sep]
        keep = max_length - 1 - max(map(len, options))
        if len(question) > keep:
            cut += len(question) - keep
            question = question[len(question) - keep :]
        out.append(Encoded((*question, sep), tuple(map(tuple, options)), example.label, cut))
    return out


def encode_classification(
    examples: Sequence[Example], tokenizer: Any, max_length: int
) -> list[Encoded]:
    """Classification examples in the ``[Context] context [Question] question [Answer]`` layout."""
    context_id, question_id, answer_id = (_token(tokenizer, t) for t in (CONTEXT, QUESTION, ANSWER))
    contexts = _ids(tokenizer, [" " + e.context for e in examples])
    questions = _ids(tokenizer, [" " + e.question for e in examples])
    out = []
    for example, context, question in zip(examples, contexts, questions, strict=True):
        over = len(context) + len(question) + 3 - max_length
        cut = max(over, 0)
        if over > 0:  # the context's start goes first, then the question's
            drop = min(over, len(context))
            context, over = context[drop:], over - drop
            question = question[over:] if over > 0 else question
        ids = (context_id, *context, question_id, *question, answer_id)
        out.append(Encoded(ids, (), example.label, cut))
    return out


def encode_script(examples: Sequence[Example], tokenizer: Any, max_length: int) -> list[Encoded]:
    """Classification examples as ``run_seqcls_gpt.py``: ``tokenizer(context, question)``."""
    if not examples:
        return []
    contexts, questions = [e.context for e in examples], [e.question for e in examples]
    whole = tokenizer(contexts, questions, verbose=False)["input_ids"]  # to count what is cut
    kept = tokenizer(contexts, questions, truncation=True, max_length=max_length)["input_ids"]
    return [
        Encoded(tuple(ids), (), example.label, len(full) - len(ids))
        for example, ids, full in zip(examples, kept, whole, strict=True)
    ]


ENCODERS = {  # each layout's encoder, and where it cuts a long example
    "multiple_choice": (encode_choice, "from the question's start"),
    "markers": (encode_classification, "from the context's start"),
    "script": (encode_script, "from the end of the longer of context and question"),
}


def encode(
    task: str, examples: Sequence[Example], tokenizer: Any, max_length: int, layout: str = "markers"
) -> list[Encoded]:
    """``examples`` in ``task``'s layout (``data.layout`` for classification); logs the cuts."""
    coder, where = ENCODERS[task if task == "multiple_choice" else layout]
    encoded = coder(examples, tokenizer, max_length)
    cut = sum(1 for e in encoded if e.truncated)
    if cut:
        log.info(
            "%d of %d examples longer than %d tokens: truncated %s",
            cut,
            len(encoded),
            max_length,
            where,
        )
    return encoded
