"""Tokens a scorer forwards, against the floor: every distinct prompt token forwarded once.

The floor of a set of scored input sequences is the node count of their token trie (prefix
tree): a token at a position after the same tokens is computed once, whichever sequences share
it (a few-shot prefix once per set of items that show it, an item's context once for all of its
choices). ``bench_eval`` reports it per benchmark (the unit the gauntlet scores at once, summed)
and catalogue-wide; the forwarded tokens are counted at the model's input embedding.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np


def trie_nodes(sequences: Sequence[Sequence[int]]) -> int:
    """The node count of the token trie of ``sequences`` (the root not counted).

    Sorted, each sequence adds the tokens after its longest common prefix with the one before.
    """
    total, previous = 0, np.zeros(0, dtype=np.int64)
    for seq in sorted({tuple(s) for s in sequences}):
        current = np.asarray(seq, dtype=np.int64)
        size = min(len(current), len(previous))
        differ = np.flatnonzero(current[:size] != previous[:size])
        common = int(differ[0]) if len(differ) else size
        total += len(current) - common
        previous = current
    return total


def scored_inputs(tokenizer: Any, prompts: Sequence[Any], max_length: int, gold_text: bool):
    """The input windows the gauntlet scores for ``prompts``: lm-eval's requests (each
    choice after its context), and the cloze prompts' gold texts with ``gold_text``."""
    from eval_gauntlet.scoring import encode_pairs, window_for

    pairs = [(p.context, cont) for p in prompts for cont in p.continuations]
    if gold_text:
        pairs += [p.gold_text for p in prompts if p.cloze_context is not None]
    return [window_for(c, t, max_length).inputs for c, t in encode_pairs(tokenizer, pairs)]


@dataclass
class Forwarded:
    """Positions the model's input embedding saw: real tokens, and all of them (padding too)."""

    tokens: int = 0
    positions: int = 0


@contextmanager
def counting(rows: int, pad_ids: set[int]) -> Iterator[Forwarded]:
    """Count what every input embedding of ``rows`` rows sees while the block runs.

    A global hook, so that a model loaded by another library (lm-eval's ``HFLM``) is counted
    too; ``rows`` (the vocabulary's) tells the token embedding from the position one.
    ``pad_ids`` must not occur in the scored inputs (lm-eval pads with 0).
    """
    import torch

    seen = Forwarded()

    def hook(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if isinstance(module, torch.nn.Embedding) and module.num_embeddings == rows:
            ids = args[0]
            real = torch.ones_like(ids, dtype=torch.bool)
            for pad in pad_ids:
                real &= ids != pad
            seen.tokens += int(real.sum())
            seen.positions += ids.numel()

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def bare_forward(model: Any, tokens: int, width: int, batch_size: int, seed: int = 0) -> float:
    """Seconds of the model's body over ``tokens`` random tokens in rows of ``width``.

    The reference for a scorer at its floor: the same tokens, batched densely, nothing else (no
    cache, no output layer, no padding but the last row's).
    """
    import torch

    vocab = model.get_input_embeddings().num_embeddings
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (tokens,), generator=generator)
    full = tokens // width * width
    batches = list(ids[:full].view(-1, width).split(batch_size))
    if full < tokens:
        batches.append(ids[full:][None])
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model.base_model(input_ids=batch, use_cache=False)
    return time.perf_counter() - start
