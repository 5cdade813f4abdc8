"""Log-likelihoods of many windows that share prefixes, each distinct prefix forwarded once.

The windows' inputs form a prefix tree (:mod:`eval_gauntlet.prefix_tree`); each segment is
forwarded once after its parent's key/value cache (``past_key_values``), batched longest first
with right padding, the parent's padding masked and ``position_ids`` continued. The tree is
walked depth first, so only the caches above the current batch are held; the output layer runs
only where a next token is scored. Two guards, checked once per model, fall back to the plain
computation: logits that are not ``head(body(x))``, and a cached forward that differs from the
whole one (every window then forwarded whole, as lm-eval does).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from biomedlm.generate import model_positions
from eval_gauntlet.prefix_tree import PrefixTree, Segment

log = logging.getLogger(__name__)

Past = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer: keys, values (rows, heads, T, d)


@dataclass
class _Forwarded:
    """A batch's cache, kept while its segments' children are forwarded."""

    past: Past
    mask: torch.Tensor  # rows x cache width: True where a real token is
    rows: dict[int, int]  # id(segment) -> its row


@dataclass
class _Verdict:
    """What the first batches showed about a model (kept as long as the model lives)."""

    split: bool | None = None  # logits == head(body(x))
    cached: bool | None = None  # a cached forward equals the whole one
    gapped: bool | None = None  # ... also with padding masked inside the cache


_VERDICTS: weakref.WeakKeyDictionary[Any, _Verdict] = weakref.WeakKeyDictionary()


class _NotCacheable(Exception):
    """The model's cached forward is not its whole forward: score every window whole."""


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    # the same numbers up to rounding: a GEMM over fewer rows may sum in another order, and a
    # 16-bit logit's last bit is 2**-7 of its size
    tol = 1e-4 if a.dtype == torch.float32 else 3e-2
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), rtol=tol, atol=tol)


class _ScoredLogits:
    """The model's logits at the scored positions only, after a cache or not.

    The output layer over the whole vocabulary at every position is most of a small model's work,
    and an item scores a few tokens: only the scored positions go through ``get_output_embeddings``.
    The first batch is also run whole and compared; a model whose logits are not
    ``head(body(x))`` (a soft-cap, a projection) gets the whole forward pass.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.verdict = _VERDICTS.setdefault(model, _Verdict())
        if model.base_model is model or model.get_output_embeddings() is None:
            self.verdict.split = False
        self.cache_class: Any = None  # a Cache class where the model returns one, not tuples

    def _kwargs(
        self, ids: torch.Tensor, positions: Any, past: Any, mask: Any, cache: bool
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"input_ids": ids, "use_cache": cache}
        if past is not None:
            if self.cache_class is not None:
                past = self.cache_class.from_legacy_cache(past)
            kwargs.update(past_key_values=past, attention_mask=mask, position_ids=positions)
        return kwargs

    def _legacy(self, past: Any) -> Past:
        if hasattr(past, "to_legacy_cache"):
            self.cache_class = type(past)
            past = past.to_legacy_cache()
        return tuple((keys, values) for keys, values in past)

    def __call__(
        self,
        ids: torch.Tensor,
        where: tuple[torch.Tensor, torch.Tensor],
        *,
        positions: torch.Tensor | None = None,
        past: Past | None = None,
        mask: torch.Tensor | None = None,
        cache: bool = False,
    ) -> tuple[torch.Tensor, Past | None]:
        """Logits at (rows, columns) ``where`` of ``ids``; the cache over past and ``ids``."""
        kwargs = self._kwargs(ids, positions, past, mask, cache)
        if self.verdict.split is False:
            out = self.model(**kwargs)
            logits = out.logits[where]
        else:
            out = self.model.base_model(**kwargs)
            logits = self.model.get_output_embeddings()(out.last_hidden_state[where])
            if self.verdict.split is None:
                whole = self.model(**self._kwargs(ids, positions, past, mask, False)).logits
                self.verdict.split = _same(logits, whole[where])
                if not self.verdict.split:
                    log.info("logits are not head(body(x)) for this model: scoring whole outputs")
                    logits = whole[where]
        return logits, self._legacy(out.past_key_values) if cache else None


def _padded(rows: list[tuple[int, ...]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids, longest row first, and where the real tokens are."""
    lengths = torch.tensor([len(row) for row in rows])
    ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
    return ids, torch.arange(ids.shape[1])[None, :] < lengths[:, None]


@dataclass(eq=False)
class _Row:
    """What one batch row forwards: a segment, after the short ones above it (if any).

    A segment shorter than :data:`MIN_SHARED` is not worth a cache (its children would all become
    masked cached rows to save a few tokens): it is forwarded again with each child.
    """

    parts: list[Segment]  # consecutive segments of one path
    reads: list[tuple[int, int, int, int]]  # the parts' reads this row serves

    @property
    def start(self) -> int:
        return self.parts[0].start

    @property
    def end(self) -> int:
        return self.parts[-1].end

    @property
    def tokens(self) -> tuple[int, ...]:
        return self.parts[-1].seq[self.start : self.end]

    @property
    def children(self) -> list[Segment]:
        return list(self.parts[-1].children.values())


MIN_SHARED = 16  # tokens: a shorter segment is forwarded with each child instead of cached


def _rows(segments: list[Segment]) -> list[_Row]:
    """The rows that forward ``segments`` (each after its parent's cache), longest first."""
    rows = []
    todo = [([node], list(node.reads)) for node in reversed(segments)]
    while todo:
        parts, reads = todo.pop()
        last = parts[-1]
        if last.end - last.start >= MIN_SHARED or not last.children:
            rows.append(_Row(parts, reads))
            continue
        for first, child in reversed(list(enumerate(last.children.values()))):
            todo.append(([*parts, child], (reads if first == 0 else []) + child.reads))
    return sorted(rows, key=lambda row: row.start - row.end)


def _batch_rows(rows: list[_Row], most: int) -> int:
    """How many of ``rows`` (longest first) go in the next batch: up to ``most``, each padded by
    at most a fifth of the longest or 16 tokens (a fixed count forwarded a third more).
    """
    longest = rows[0].end - rows[0].start
    slack = max(MIN_SHARED, longest // 5)
    count = 1
    while count < min(most, len(rows)) and longest - (rows[count].end - rows[count].start) <= slack:
        count += 1
    return count


class _Scorer:
    """Forwards a prefix tree's segments, batched, and picks the scored log-probabilities."""

    def __init__(self, model: Any, pad_id: int, batch_size: int, dtype: Any) -> None:
        self.logits = _ScoredLogits(model)
        self.pad_id = pad_id
        self.batch_size = batch_size
        self.dtype = dtype  # of the log-softmax: float32, or None (the model's)
        self.device = next(model.parameters()).device
        # keys a forward may attend over: GPT-2's causal mask has n_positions columns
        self.positions = model_positions(model) or float("inf")
        self.picked: dict[tuple[int, int], float] = {}  # (window, target index) -> log-prob
        self.picked_dtype = torch.float32

    def score(self, windows: Sequence[Any], share: bool, desc: str, progress: bool) -> None:
        """Each window's targets into :attr:`picked`, the inputs shared as a tree (``share``)."""
        tree = PrefixTree([inputs for inputs, _ in windows], share=share)
        for index, (inputs, continuation) in enumerate(windows):
            first = len(inputs) - len(continuation)
            for j, token in enumerate(continuation):
                tree.segment_at(inputs, first + j).reads.append((first + j, index, j, token))
        self.picked = {}
        total = sum(len(continuation) for _, continuation in windows)
        # disable=None: the bar only on a terminal (in a file or pipe each update is a line)
        bar = tqdm(total=total, desc=desc, disable=None if progress else True)
        with torch.inference_mode(), bar:
            self.run(tree, bar)

    def run(self, tree: PrefixTree, bar: Any) -> None:
        """Every segment of ``tree``, depth first; each batch's children right after it."""
        todo: list[tuple[list[_Row], _Forwarded | None]] = [(_rows(tree.roots), None)]
        while todo:
            group, parent = todo.pop()
            size = _batch_rows(group, self.batch_size)
            batch, rest = group[:size], group[size:]
            if rest:
                todo.append((rest, parent))
            children = [child for row in batch for child in row.children]
            forwarded = self._forward(batch, parent, cache=bool(children))
            if children:
                todo.append((_rows(children), forwarded))
            bar.update(sum(len(row.reads) for row in batch))

    def _forward(
        self, batch: list[_Row], parent: _Forwarded | None, *, cache: bool
    ) -> _Forwarded | None:
        ids, own = _padded([row.tokens for row in batch], self.pad_id)
        places = sorted({(r, p - row.start) for r, row in enumerate(batch) for p, *_ in row.reads})
        index = [parent.rows[id(row.parts[0])] for row in batch] if parent else []
        past_mask = _gather(parent.mask, index) if parent else None
        shift = [0] * len(batch)
        if past_mask is not None and past_mask.shape[1] + ids.shape[1] > self.positions:
            # the padding inside the cache would push the keys past the model's positions:
            # these rows are forwarded from their first token instead
            ids, own = _padded([row.parts[-1].seq[: row.end] for row in batch], self.pad_id)
            parent, past_mask, shift = None, None, [row.start for row in batch]
        gapped = past_mask is not None and not bool(past_mask.all())  # padding inside the cache
        verdict = self.logits.verdict
        check = parent is not None and not (verdict.cached and (verdict.gapped or not gapped))
        if check and not places:  # the check needs logits somewhere: each row's last token
            places = [(r, row.end - row.start - 1) for r, row in enumerate(batch)]
        where = (
            torch.tensor([r for r, _ in places], dtype=torch.long, device=self.device),
            torch.tensor([c + shift[r] for r, c in places], dtype=torch.long, device=self.device),
        )
        if parent is None:
            logits, past = self.logits(ids.to(self.device), where, cache=cache)
            mask = own
        else:
            assert past_mask is not None
            mask = torch.cat([past_mask, own], dim=1)
            starts = torch.tensor([row.start for row in batch])
            positions = (starts[:, None] + torch.arange(ids.shape[1])).masked_fill(~own, 0)
            past_rows = tuple((_gather(k, index), _gather(v, index)) for k, v in parent.past)
            logits, past = self.logits(
                ids.to(self.device), where, positions=positions.to(self.device),
                past=past_rows, mask=mask.to(self.device), cache=cache,
            )  # fmt: skip
            if check:
                self._check_cached(batch, where, logits, gapped=gapped)
        if any(row.reads for row in batch):
            self._pick(batch, places, logits)
        if not cache:
            return None
        assert past is not None
        rows = {id(child): r for r, row in enumerate(batch) for child in row.children}
        return _Forwarded(past, mask, rows)

    def _check_cached(
        self, batch: list[_Row], where: tuple[torch.Tensor, torch.Tensor],
        logits: torch.Tensor, *, gapped: bool,
    ) -> None:  # fmt: skip
        """Compare a cached batch with the whole forward of its rows' inputs, once per model
        (and once more for the first batch whose cache has padding inside)."""
        ids, _ = _padded([row.parts[-1].seq[: row.end] for row in batch], self.pad_id)
        starts = torch.tensor([row.start for row in batch], device=self.device)
        whole, _ = self.logits(ids.to(self.device), (where[0], where[1] + starts[where[0]]))
        verdict = self.logits.verdict
        if not _same(logits, whole):
            verdict.cached = False
            log.info("the model's cached forward differs from its whole forward: no sharing")
            raise _NotCacheable
        verdict.cached = True
        verdict.gapped = verdict.gapped or gapped

    def _pick(self, batch: list[_Row], places: list[tuple[int, int]], logits: torch.Tensor) -> None:
        logprobs = logits.log_softmax(-1, dtype=self.dtype)  # as lm-eval: F.log_softmax
        self.picked_dtype = logprobs.dtype
        at = {place: i for i, place in enumerate(places)}
        reads = [
            (at[r, p - row.start], window, j, token)
            for r, row in enumerate(batch)
            for p, window, j, token in row.reads
        ]
        rows = torch.tensor([i for i, *_ in reads], device=logprobs.device)
        tokens = torch.tensor([token for *_, token in reads], device=logprobs.device)
        values = logprobs[rows, tokens].tolist()
        for (_, window, j, _), value in zip(reads, values, strict=True):
            self.picked[window, j] = value


def _gather(tensor: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """``tensor[rows]``; no copy when the rows are all of them or all the same one."""
    if rows == list(range(len(tensor))):
        return tensor
    if all(row == rows[0] for row in rows):
        return tensor[rows[0] : rows[0] + 1].expand(len(rows), *tensor.shape[1:])
    return tensor[torch.tensor(rows, device=tensor.device)]


def score_windows(
    model: Any,
    windows: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
    *,
    pad_id: int,
    batch_size: int,
    softmax_dtype: Any,
    desc: str = "loglikelihood",
    progress: bool = True,
) -> list[float]:
    """Sum of the log-probabilities of each (inputs, continuation) window: the continuation's tokens
    are the targets of the inputs' last positions. ``softmax_dtype``: float32, or None for the
    model's own; each sum is taken in it, as lm-eval's.
    """
    scorer = _Scorer(model, pad_id, batch_size, softmax_dtype)
    try:
        scorer.score(windows, _VERDICTS.get(model, _Verdict()).cached is not False, desc, progress)
    except _NotCacheable:
        scorer.score(windows, False, desc, progress)
    sums = []
    for index, (_, continuation) in enumerate(windows):
        values = [scorer.picked[index, j] for j in range(len(continuation))]
        if len(values) == 1:
            sums.append(values[0])
        else:  # summed in the log-softmax's dtype, as lm-eval
            sums.append(float(torch.tensor(values, dtype=scorer.picked_dtype).sum()))
    return sums
