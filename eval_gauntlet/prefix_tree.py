"""The inputs of a scorer as a prefix tree (a radix tree of the distinct sequences): forwarding
each segment once, after its parent's cache, forwards each token at each position once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class Segment:
    """A chain of the prefix tree: the tokens ``seq[start:end]``, at those positions."""

    seq: tuple[int, ...]  # one input passing through; any other has the same tokens here
    start: int
    end: int
    children: dict[int, Segment] = field(default_factory=dict)  # by their first token
    # (position, window, target index, target token): the logits at position score the target
    reads: list[tuple[int, int, int, int]] = field(default_factory=list)


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    size = min(len(a), len(b))
    if a[:size] == b[:size]:
        return size
    return int(np.argmax(np.asarray(a[:size]) != np.asarray(b[:size])))


class PrefixTree:
    """The distinct ``sequences`` as a radix tree (``share``), or each whole on its own."""

    def __init__(self, sequences: Sequence[tuple[int, ...]], *, share: bool = True) -> None:
        distinct = sorted(set(sequences))
        if distinct and not distinct[0]:
            raise ValueError("an empty input window cannot be scored")
        self.share = share
        self._whole = {} if share else {seq: Segment(seq, 0, len(seq)) for seq in distinct}
        self._first: dict[int, Segment] = {}
        if share:
            self._build(distinct)
            for node in self.segments():  # children walked after their parent: chains merged
                while len(node.children) == 1:
                    (child,) = node.children.values()
                    node.seq, node.end, node.children = child.seq, child.end, child.children

    def _build(self, distinct: list[tuple[int, ...]]) -> None:
        path: list[Segment] = []  # the previous sequence's, root first
        previous: tuple[int, ...] = ()
        for seq in distinct:  # sorted: a prefix comes before its extensions
            common = _common_prefix(previous, seq)
            while path and path[-1].start >= common:
                path.pop()
            if path and path[-1].end > common:  # branches inside it: split
                top = path[-1]
                tail = Segment(top.seq, common, top.end, top.children)
                top.end, top.children = common, {top.seq[common]: tail}
            node = Segment(seq, common, len(seq))
            (path[-1].children if path else self._first)[seq[common]] = node
            path.append(node)
            previous = seq

    @property
    def roots(self) -> list[Segment]:
        return list(self._first.values()) if self.share else list(self._whole.values())

    def segment_at(self, seq: tuple[int, ...], position: int) -> Segment:
        """The segment that forwards ``seq``'s token at ``position``."""
        if not self.share:
            return self._whole[seq]
        node = self._first[seq[0]]
        while position >= node.end:
            node = node.children[seq[node.end]]
        return node

    def segments(self) -> Iterator[Segment]:
        stack = self.roots
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())

    @property
    def tokens(self) -> int:
        """The segments' tokens: with ``share``, the trie's node count."""
        return sum(node.end - node.start for node in self.segments())
