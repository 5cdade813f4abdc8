"""Log-likelihood multiple choice with a Hugging Face causal LM, by lm-evaluation-harness's rules.

As lm-eval's ``HFLM``: the context's trailing whitespace moves to the continuation, the pair is
tokenized whole, a pair longer than the context loses tokens on the left (counted), and a
choice's log-likelihood is the sum of its tokens' log-probabilities, the log-softmax in float32
or in the model's dtype (lm-eval's default; they differ on bf16 models). What the pairs share is
forwarded once (:mod:`eval_gauntlet.prefix_cache`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biomedlm.trained.kinds import CheckpointError
from biomedlm.trained.load import load
from biomedlm.vocabulary import embedding_shortfall
from eval_gauntlet.errors import GauntletError, UnreadableCheckpoint
from eval_gauntlet.options import DTYPES, SOFTMAX_DTYPES
from eval_gauntlet.prefix_cache import score_windows
from eval_gauntlet.prompts import Prompt

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 2048  # lm-eval's default when neither config nor tokenizer says
_TOKENIZER_INFINITY = 1_000_000_000_000_000_019_884_624_838_656  # "unset" model_max_length
_SEQLEN_ATTRS = ("n_positions", "max_position_embeddings", "n_ctx")  # lm-eval's, in its order


def check_vocab(model: Any, tokenizer: Any, where: str) -> None:
    """Fail when the tokenizer can produce ids the model has no embedding for (as the launch)."""
    why = embedding_shortfall(len(tokenizer), model.get_input_embeddings().num_embeddings)
    if why is not None:
        raise UnreadableCheckpoint(f"{where}: {why}")


FINETUNED_TASK_KEY = "biomedlm_task"  # biomedlm.finetune.choice.model.TASK_KEY (import is slow)


def load_checkpoint(
    path: Path, *, device: str = "cpu", dtype: str = "auto", trust: bool = False
) -> tuple[Any, Any, tuple[int, int] | None]:
    """Model, tokenizer and (step, tokens seen; None for an export) of a trained model, cast to
    ``dtype`` as lm-eval's ``dtype=``; a fine-tune with a trained head is refused in one line.
    """
    if dtype not in DTYPES:
        raise GauntletError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    try:
        trained = load(path, dtype=dtype, trust=trust)
    except CheckpointError as exc:
        raise UnreadableCheckpoint(str(exc)) from None
    model, tokenizer, progress = trained.model, trained.tokenizer, trained.progress
    task = getattr(model.config, FINETUNED_TASK_KEY, None)
    if task is not None:  # in-context scoring would drop its trained head without a word
        raise UnreadableCheckpoint(
            f"{path}: a {task} fine-tune (its answers come from a trained head, not the LM's "
            "text); score it with: python -m eval_gauntlet finetuned CHECKPOINT RECIPE"
        )
    check_vocab(model, tokenizer, str(path))
    model.to(device)
    return model, tokenizer, (progress.batch, progress.tokens) if progress else None


def load_hf_model(path: str | Path, *, device: str = "cpu", dtype: str = "auto") -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a local Hugging Face directory (never the network)."""
    model, tokenizer, _ = load_checkpoint(Path(path), device=device, dtype=dtype)
    return model, tokenizer


def context_length(model: Any, tokenizer: Any) -> int:
    """The model's context in tokens, as lm-eval's ``resolve_max_length``: the config's positions,
    else the tokenizer's ``model_max_length``, else 2048 (lm-eval is a test dependency only).
    """
    config = getattr(model.config, "text_config", None) or model.config
    for attr in _SEQLEN_ATTRS:
        value = getattr(config, attr, None)
        if value is not None:
            return int(value)
    tokenizer_max = getattr(tokenizer, "model_max_length", None)
    if tokenizer_max is not None and tokenizer_max != _TOKENIZER_INFINITY:
        return int(tokenizer_max)
    return DEFAULT_MAX_LENGTH


def move_spaces(context: str, continuation: str) -> tuple[str, str]:
    """The pair as lm-eval scores it: the context's trailing whitespace moved to the continuation."""
    kept = context.rstrip()
    return kept, context[len(kept) :] + continuation


def encode_pairs(
    tokenizer: Any, pairs: Sequence[tuple[str, str]]
) -> list[tuple[list[int], list[int]]]:
    """Token ids of each context and continuation, split as lm-eval's ``_encode_pair`` does
    (batched, each distinct context once, the tokenizer's special-token default).
    """
    moved = [move_spaces(context, continuation) for context, continuation in pairs]
    contexts = list(dict.fromkeys(context for context, _ in moved))
    context_ids = dict(zip(contexts, tokenizer(contexts)["input_ids"], strict=True))
    wholes = tokenizer([context + continuation for context, continuation in moved])["input_ids"]
    return [
        (context_ids[context], whole[len(context_ids[context]) :])
        for (context, _), whole in zip(moved, wholes, strict=True)
    ]


@dataclass(frozen=True)
class Window:
    """What the model reads to score one continuation after its context."""

    inputs: tuple[int, ...]  # what the model sees
    continuation: tuple[int, ...]  # scored: the last len(continuation) targets of the window
    truncated: int  # tokens dropped from the left


def window_for(context: list[int], continuation: list[int], max_length: int) -> Window:
    """The pair cut to ``max_length`` inputs as lm-eval cuts it: the context loses its left end."""
    if not continuation or len(continuation) > max_length:
        raise GauntletError(
            f"a continuation of {len(continuation)} tokens cannot be scored in a "
            f"{max_length}-token context"
        )
    whole = context + continuation
    kept = whole[-(max_length + 1) :]
    return Window(tuple(kept[:-1]), tuple(continuation), len(whole) - len(kept))


def loglikelihoods(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    max_length: int,
    batch_size: int = 8,
    desc: str = "loglikelihood",
    progress: bool = True,
    softmax_dtype: str = SOFTMAX_DTYPES[0],
) -> tuple[list[float], list[int]]:
    """Sum of log-probabilities of each continuation after its context; tokens truncated each."""
    assert softmax_dtype in SOFTMAX_DTYPES, "checked with the options (Options.check)"
    windows = [window_for(ctx, cont, max_length) for ctx, cont in encode_pairs(tokenizer, pairs)]
    scores = score_windows(
        model,
        [(window.inputs, window.continuation) for window in windows],
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        batch_size=batch_size,
        softmax_dtype=torch.float32 if softmax_dtype == "float32" else None,
        desc=desc,
        progress=progress,
    )
    return scores, [window.truncated for window in windows]


@dataclass
class Prediction:
    """The model's answer to one prompt, with everything needed to audit it."""

    key: str
    source: str
    choices: list[str]
    gold: int
    logprobs: list[float]
    pred: int  # argmax of log-likelihood (acc)
    pred_norm: int  # argmax of log-likelihood / len(choice) in characters (acc_norm)
    truncated: int  # context tokens dropped from the left
    fewshot_keys: list[str] = field(default_factory=list)
    gold_text_logprob: float = float("nan")  # log P of the gold answer's text (Prompt.gold_text)
    gold_text_bytes: int = 0  # the answer's own UTF-8 bytes ("carrier": no delimiter), for bpb
    index: int | None = None  # the item's index in its task file (lm-eval's doc_id)
    context: str = ""  # the prompt as scored; lm-eval's arguments are (context, continuation)
    continuations: list[str] = field(default_factory=list)  # one per choice, delimiter first

    @property
    def correct(self) -> bool:
        """acc for this item."""
        return self.pred == self.gold

    @property
    def correct_norm(self) -> bool:
        """acc_norm for this item."""
        return self.pred_norm == self.gold

    @property
    def gold_prob(self) -> float:
        """Probability on the gold choice, the choices' likelihoods renormalised (chance:
        1 / len(choices)): it moves before a preference is strong enough to change the argmax."""
        lls = np.asarray(self.logprobs, dtype=np.float64)
        weights = np.exp(lls - lls.max())
        return float(weights[self.gold] / weights.sum())

    @property
    def gold_text_bpb(self) -> float:
        """Bits per byte of the gold answer's text (:attr:`Prompt.gold_text`) over its own bytes, as
        lm-eval's ``bits_per_byte``; lower is better, NaN when the bytes are unknown.
        """
        if self.gold_text_bytes <= 0:
            return float("nan")
        return -self.gold_text_logprob / (self.gold_text_bytes * math.log(2))


def choose(logprobs: Sequence[float], choices: Sequence[str]) -> tuple[int, int]:
    """lm-eval's picks: argmax of log-likelihood, and of log-likelihood per character of the choice
    (``acc_norm``); ties go to the first choice, as ``np.argmax``.
    """
    lls = np.asarray(logprobs, dtype=np.float64)
    lengths = np.asarray([float(len(choice)) for choice in choices])
    return int(np.argmax(lls)), int(np.argmax(lls / lengths))


def score_prompts(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    max_length: int,
    batch_size: int = 8,
    desc: str = "loglikelihood",
    progress: bool = True,
    softmax_dtype: str = SOFTMAX_DTYPES[0],
    gold_text: bool = True,
) -> list[Prediction]:
    """Score every choice of every prompt, pick the answers, and score the gold text in the same
    pass (``gold_text=False``: NaN ``gold_text_bpb``, the choices' scores equal up to rounding).
    """
    pairs = [(p.context, cont) for p in prompts for cont in p.continuations]
    choices = len(pairs)
    if gold_text:
        pairs += [p.gold_text for p in prompts if p.cloze_context is not None]
    all_scores, truncated = loglikelihoods(
        model, tokenizer, pairs, max_length=max_length, batch_size=batch_size, desc=desc,
        progress=progress, softmax_dtype=softmax_dtype,
    )  # fmt: skip
    scores, cloze_scores = all_scores[:choices], iter(all_scores[choices:])
    predictions, at = [], 0
    for prompt in prompts:
        lls = scores[at : at + len(prompt.choices)]
        text = (float("nan"), 0)
        if gold_text:  # the gold choice is the gold text, else the cloze prompt scored it
            logprob = lls[prompt.gold] if prompt.cloze_context is None else next(cloze_scores)
            text = (logprob, len(prompt.gold_answer.encode()))
        pred, pred_norm = choose(lls, prompt.choices)
        predictions.append(
            Prediction(
                key=prompt.item.key, source=prompt.item.source, choices=prompt.choices,
                gold=prompt.gold, logprobs=lls, pred=pred, pred_norm=pred_norm,
                truncated=max(truncated[at : at + len(prompt.choices)]),
                fewshot_keys=prompt.fewshot_keys, gold_text_logprob=text[0],
                gold_text_bytes=text[1], index=prompt.index, context=prompt.context,
                continuations=prompt.continuations,
            )
        )  # fmt: skip
        at += len(prompt.choices)
    return predictions
