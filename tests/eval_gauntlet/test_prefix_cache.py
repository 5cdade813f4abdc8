"""Prefix-shared scoring equals scoring each window whole, and forwards each trie node once."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from eval_gauntlet.prefix_tree import PrefixTree
from eval_gauntlet.prompts import build_prompts
from eval_gauntlet.scoring import loglikelihoods
from medtasks.formats import load_items
from tests.fixtures.paths import DATA


def trie_nodes(sequences: list[tuple[int, ...]]) -> int:
    """The token trie's node count, by definition: the distinct non-empty prefixes."""
    return len({seq[:end] for seq in sequences for end in range(1, len(seq) + 1)})


def test_the_tree_forwards_each_distinct_prefix_once() -> None:
    rng = random.Random(0)
    sequences = [tuple(rng.choices(range(3), k=rng.randint(1, 9))) for _ in range(60)]
    sequences += [(7,), (7, 1, 2), (7, 1, 2, 3, 4), (7, 1, 5)]  # a prefix; a branch inside
    tree = PrefixTree(sequences)
    assert tree.tokens == trie_nodes(sequences)
    assert all(len(node.children) != 1 for node in tree.segments())  # chains are merged
    for seq in sequences:
        for position, token in enumerate(seq):
            node = tree.segment_at(seq, position)
            assert node.start <= position < node.end and node.seq[position] == token
    flat = PrefixTree(sequences, share=False)
    assert flat.tokens == sum(len(seq) for seq in set(sequences)) > tree.tokens


def whole(model, inputs: tuple[int, ...], continuation: tuple[int, ...]) -> float:
    """One window alone, forwarded whole: the unshared computation."""
    with torch.no_grad():
        logits = model(torch.tensor([inputs])).logits[0, len(inputs) - len(continuation) :]
    picked = logits.log_softmax(-1).gather(-1, torch.tensor(continuation)[:, None])
    return float(picked.sum())


@contextmanager
def forwarded(model) -> Iterator[list[int]]:
    """Real tokens (not padding: id 0, never in a prompt) seen by the input embedding."""
    seen = [0]

    def count(module, args) -> None:
        seen[0] += int((args[0] != 0).sum())

    handle = model.get_input_embeddings().register_forward_pre_hook(count)
    try:
        yield seen
    finally:
        handle.remove()


def fixed_shot_pairs() -> list[tuple[str, str]]:
    """MMLU 2-shot with first_n: every prompt starts with the same description and examples;
    the choices, and the cloze prompts with the same examples in their own layout."""
    test = load_items(DATA / "mmlu_medical_test.jsonl", "anatomy")[:8]
    dev = load_items(DATA / "mmlu_medical_dev.jsonl", "anatomy")
    prompts = build_prompts("mmlu", "mmlu", test, dev, 2, seed=0, sampler="first_n")
    pairs = [(p.context, cont) for p in prompts for cont in p.continuations]
    return pairs + [p.gold_text for p in prompts]


def windows(tokenizer, pairs: list[tuple[str, str]], max_length: int):
    """lm-eval's windows, by hand: the pair tokenized whole, its last max_length + 1 tokens."""
    out = []
    for context, continuation in pairs:
        whole_ids = tokenizer(context + continuation)["input_ids"]
        target = whole_ids[len(tokenizer(context)["input_ids"]) :]
        kept = whole_ids[-(max_length + 1) :]
        out.append((tuple(kept[:-1]), tuple(target)))
    return out


def test_shared_scores_equal_unshared_with_prompts_truncated_on_the_left(tiny) -> None:
    model, tokenizer = tiny
    pairs = fixed_shot_pairs()
    lengths = sorted(len(tokenizer(c + t)["input_ids"]) for c, t in pairs)
    max_length = lengths[len(lengths) // 2]  # about half the windows lose their first tokens
    expected = windows(tokenizer, pairs, max_length)
    loglikelihoods(model, tokenizer, pairs, max_length=max_length, progress=False)  # the checks
    with forwarded(model) as seen:
        scores, truncated = loglikelihoods(
            model, tokenizer, pairs, max_length=max_length, batch_size=4, progress=False
        )
    assert 0 < sum(t > 0 for t in truncated) < len(pairs)
    # 1e-5, or 1e-7 of the value: a sum is an fp32 number, and the cloze sums reach 230 nats,
    # where fp32's spacing is 1.5e-5 (7.6e-6 at 100 nats, seen here: one last bit)
    assert scores == pytest.approx([whole(model, *w) for w in expected], abs=1e-5, rel=1e-7)
    inputs = [w[0] for w in expected]
    floor = trie_nodes(inputs)  # a segment under MIN_SHARED tokens is forwarded with each child
    assert floor <= seen[0] <= 1.05 * floor < 0.7 * sum(len(seq) for seq in set(inputs))


class IgnoresMask(torch.nn.Module):
    """A model that drops the attention mask: its cached forward attends to padding."""

    def __init__(self, inner) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config
        self.body = _Unmasked(inner.base_model)

    @property
    def base_model(self):
        return self.body

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()

    def forward(self, attention_mask=None, **kwargs):
        return self.inner(**kwargs)


class _Unmasked(torch.nn.Module):
    def __init__(self, inner) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, attention_mask=None, **kwargs):
        return self.inner(**kwargs)


def test_a_model_whose_cached_forward_differs_is_scored_whole(
    tiny, caplog: pytest.LogCaptureFixture
) -> None:
    """A model that attends to the padding inside a cache fails the check and is scored
    whole; the model itself, on the same batches, masks it and keeps the shared scores."""
    model, tokenizer = tiny
    test = load_items(DATA / "mmlu_medical_test.jsonl", "anatomy")[:3]
    dev = load_items(DATA / "mmlu_medical_dev.jsonl", "anatomy")
    prompts = build_prompts("mmlu", "mmlu", test, dev, 1, seed=0, sampler="first_n")
    contexts = [p.context for p in prompts]
    contexts += [c.replace("about anatomy", "about human anatomy", 1) for c in contexts]
    # two prefixes a token or two apart, batched together: the shorter one's cache is padded
    pairs = [(c, cont) for c in contexts for cont in prompts[0].continuations]
    odd = IgnoresMask(model)
    with caplog.at_level("INFO", logger="eval_gauntlet.prefix_cache"), forwarded(model) as seen:
        scores, _ = loglikelihoods(odd, tokenizer, pairs, max_length=1024, progress=False)
    assert "differs from its whole forward: no sharing" in caplog.text
    expected = windows(tokenizer, pairs, 1024)
    assert scores == pytest.approx([whole(model, *w) for w in expected], abs=1e-5, rel=1e-7)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="eval_gauntlet.prefix_cache"):
        again, _ = loglikelihoods(odd, tokenizer, pairs, max_length=1024, progress=False)
    assert again == scores and "no sharing" not in caplog.text  # known: not checked again
    assert seen[0] > trie_nodes([w[0] for w in expected])
    # the model itself masks that padding: the same batches, shared, give the same scores
    with forwarded(model) as shared:
        plain, _ = loglikelihoods(model, tokenizer, pairs, max_length=1024, progress=False)
    assert plain == pytest.approx(scores, abs=1e-5, rel=1e-7)
    assert shared[0] < seen[0]


def test_a_cache_padded_past_the_models_positions_is_not_used() -> None:
    """Two prefixes of 40 and 30 tokens in one batch leave a 40-wide cache; their children
    (20 and 30 tokens) reach 70 keys on a 64-position GPT-2, whose causal mask has 64 columns
    (the demo's eval stage crashed there). Those rows are forwarded whole: same scores."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from eval_gauntlet.prefix_cache import score_windows

    torch.manual_seed(0)
    config = GPT2Config(n_positions=64, n_layer=2, n_embd=32, n_head=2, vocab_size=50)
    config._attn_implementation = "eager"  # its causal mask is sliced from n_positions columns
    model = GPT2LMHeadModel(config).eval()
    rng = random.Random(0)

    def tokens(k: int) -> tuple[int, ...]:
        return tuple(rng.randrange(1, 50) for _ in range(k))

    x, y = (1, *tokens(39)), (2, *tokens(29))
    inputs = [x + tokens(20), x + tokens(20), y + tokens(30), y + tokens(30)]
    pairs = [(seq[:-1], seq[-1:]) for seq in inputs]  # 59 inputs, 1 scored token each
    scores = score_windows(model, pairs, pad_id=0, batch_size=8, softmax_dtype=torch.float32,
                           progress=False)  # fmt: skip
    assert scores == pytest.approx([whole(model, i, c) for i, c in pairs], abs=1e-5, rel=1e-7)
