"""Find training documents that contain evaluation items, by PMID and by long word n-grams.

The index holds the 64-bit hashes of every ``n``-word window of each benchmark item (GPT-3 and
lm-eval use 13 words), so its memory follows the evaluation sets, not the corpus. Matching maps
words to hashes through the (small) evaluation vocabulary, since a word in no item cannot be part
of a matching window, and combines windows by a rolling hash over uint64 arrays.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.catalogue import benchmarks_to_check
from data_prep.cleaning import normalize_text
from data_prep.config import BenchmarkFile, DecontaminateConfig
from data_prep.dedup import id_hash
from data_prep.document import Document, PrepError, ReadContext
from data_prep.sources.jsonl import json_records
from data_prep.stages import file_digest

log = logging.getLogger(__name__)

# An item shorter than the n-gram is one window of its own length if it has at least this many
# words (GPT-3's lower bound); a shorter phrase is common text, not evidence of a copy.
MIN_SHORT_ITEM_WORDS = 8
_WORD = re.compile(r"[^\W_]+")
_ASCII_SPACES = bytes(c if chr(c).isalnum() else 32 for c in range(128)) + bytes(range(128, 256))
_FILTER_BITS = 24  # a 2 MiB bitmap of hash prefixes answers most look-ups before a search
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so every power of it is invertible mod 2**64


def words_of(text: str) -> list[str]:
    """The lowercased alphanumeric words of ``text`` (punctuation and case ignored)."""
    text = text.lower()
    if text.isascii():  # the same words, three times faster: byte translation and str.split
        return text.encode("ascii").translate(_ASCII_SPACES).decode("ascii").split()
    return _WORD.findall(text)


def window_hashes(
    values: np.ndarray, n: int, windows: np.ndarray | None = None, length: int = 1
) -> np.ndarray:
    """Polynomial hashes of every ``n``-long window of the uint64 word hashes ``values``, from
    those of the ``length``-long ones when given: by Horner's rule, a window one word longer is
    the shorter one times the multiplier plus the next word, so every length up to ``n`` costs
    ``n`` steps in all."""
    count = len(values) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    acc = (values if windows is None else windows)[:count].copy()
    for k in range(length, n):
        acc *= _MULTIPLIER  # uint64 arithmetic wraps: the hash is taken mod 2**64
        acc += values[k : k + count]
    return acc


def _strings(value: Any) -> Iterator[str]:
    """All strings in a field: the string itself, or those inside a dict or list."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def _pmid(value: Any) -> str | None:
    """A PMID as a canonical string (no leading zeros), or None when there is none."""
    text = str(value).strip() if isinstance(value, str | int) else ""
    return str(int(text)) if text.isdigit() else (text or None)


def _bit(prefix: np.ndarray) -> np.ndarray:
    """The bit of each prefix within its bitmap byte."""
    return np.left_shift(np.uint8(1), (prefix & np.uint64(7)).astype(np.uint8))


class EvalIndex:
    """The evaluation sets' PMIDs and n-gram hashes; picklable, so workers receive a copy.
    Documents are expected normalised (:func:`~data_prep.cleaning.normalize_text`), as items are."""

    def __init__(self, ngram: int, benchmarks: list[str]) -> None:
        self.ngram = ngram
        self.benchmarks = benchmarks  # bit i of an owner mask is benchmarks[i]
        self.pmids: dict[str, int] = {}  # PMID -> owner mask
        self.vocab: dict[str, int] = {}  # evaluation word -> its 64-bit hash
        self.hashes = np.empty(0, dtype=np.uint64)  # sorted, unique window hashes
        self.owners = np.empty(0, dtype=np.uint64)  # owner mask of each hash
        self.prefixes = np.zeros(1 << (_FILTER_BITS - 3), dtype=np.uint8)  # bitmap of hash prefixes
        self.short_lengths: list[int] = []  # window lengths of items shorter than ngram
        self.stats: dict[str, dict[str, int]] = {}
        self.files: dict[str, dict[str, str]] = {}  # benchmark -> its path and content digest

    @classmethod
    def from_config(
        cls, cfg: DecontaminateConfig, benchmarks: dict[str, BenchmarkFile] | None = None
    ) -> EvalIndex:
        """Read every benchmark file to check (``benchmarks``, else resolved from ``cfg``)."""
        if benchmarks is None:
            benchmarks = benchmarks_to_check(cfg)
        if len(benchmarks) > 64:
            raise PrepError(f"decontaminate.benchmarks: at most 64, got {len(benchmarks)}")
        index = cls(cfg.ngram, list(benchmarks))
        parts: list[tuple[np.ndarray, int]] = []
        short: set[int] = set()
        for bit, (name, spec) in enumerate(benchmarks.items()):
            hashes, pmids, items = index._index_benchmark(spec, short)
            parts.append((hashes, bit))
            for pmid in pmids:
                index.pmids[pmid] = index.pmids.get(pmid, 0) | (1 << bit)
            index.stats[name] = {"items": items, "ngrams": len(hashes), "pmids": len(pmids)}
            index.files[name] = {"path": spec.path, "sha1": file_digest(Path(spec.path))}
            log.info("decontamination index %s: %s", name, index.stats[name])
        index._merge(parts)
        index.short_lengths = sorted(short)
        return index

    def _index_benchmark(
        self, spec: BenchmarkFile, short: set[int]
    ) -> tuple[np.ndarray, set[str], int]:
        """(unique window hashes, PMIDs, item count) of one benchmark file."""
        path = Path(spec.path)
        if not path.is_file():
            raise PrepError(f"{path}: cannot read benchmark file (not found)")
        chunks: list[np.ndarray] = []
        pmids: set[str] = set()
        items = 0
        ctx = ReadContext(source=f"benchmark {path.name}", on_error="raise")  # bad rows raise
        for _, row in json_records(path, ctx):
            items += 1
            if spec.pmid_field is not None:
                pmid = _pmid(row.get(spec.pmid_field))
                if pmid is not None:
                    pmids.add(pmid)
            texts = [
                words_of(normalize_text(t)) for f in spec.text_fields for t in _strings(row.get(f))
            ]
            # the fields run together, and each alone: a copy laid out with option letters
            # ("Q\nA. ...\nB. ...") breaks every window that crosses two fields
            for words in [[w for t in texts for w in t], *(texts if len(texts) > 1 else [])]:
                chunks += self._item_windows(words, short)
        hashes = np.unique(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.uint64)
        return hashes, pmids, items

    def _item_windows(self, words: list[str], short: set[int]) -> list[np.ndarray]:
        """The window hashes of one item's ``words``: ``ngram`` long, or the whole item when it
        is shorter but has at least :data:`MIN_SHORT_ITEM_WORDS` (none below that)."""
        n = self.ngram
        if len(words) < n:
            if len(words) < MIN_SHORT_ITEM_WORDS:
                return []
            n = len(words)
            short.add(n)
        values = np.array([self._vocab_hash(w) for w in words], dtype=np.uint64)
        return [window_hashes(values, n)]

    def _vocab_hash(self, word: str) -> int:
        if word not in self.vocab:
            self.vocab[word] = id_hash(word) or 1  # 0 marks an unknown word
        return self.vocab[word]

    def _merge(self, parts: list[tuple[np.ndarray, int]]) -> None:
        """One sorted hash array for all benchmarks, with the OR of the owners of each hash."""
        if not parts:
            return
        hashes = np.concatenate([h for h, _ in parts])
        owners = np.concatenate([np.full(len(h), 1 << bit, dtype=np.uint64) for h, bit in parts])
        self.hashes, inverse = np.unique(hashes, return_inverse=True)
        self.owners = np.zeros(len(self.hashes), dtype=np.uint64)
        np.bitwise_or.at(self.owners, inverse, owners)
        prefix = self.hashes >> np.uint64(64 - _FILTER_BITS)
        np.bitwise_or.at(self.prefixes, prefix >> np.uint64(3), _bit(prefix))

    def _first_owner(self, mask: int) -> str:
        """The first benchmark (in config order) whose bit is set in ``mask``."""
        return self.benchmarks[(mask & -mask).bit_length() - 1]

    def match(self, doc: Document) -> tuple[str, str] | None:
        """``(benchmark, "pmid" or "ngram")`` when ``doc`` overlaps (the first benchmark in
        config order), else None; the PMID is ``doc.meta["pmid"]`` or that of an id ``pmid:<n>``."""
        return self.match_batch([doc])[0]

    def match_batch(self, docs: Sequence[Document]) -> list[tuple[str, str] | None]:
        """:meth:`match` of each document, the n-grams of all of them in one pass (faster)."""
        found: list[tuple[str, str] | None] = [None] * len(docs)
        unmatched = []
        for i, doc in enumerate(docs):
            by_id = doc.id[5:] if doc.id.startswith("pmid:") else None
            pmid = doc.meta.get("pmid")
            owner = self.pmids.get(_pmid(by_id if pmid is None else pmid) or "")
            if owner:
                found[i] = (self._first_owner(owner), "pmid")
            else:
                unmatched.append(i)
        masks = self._ngram_owners([docs[i].text for i in unmatched])
        for i, mask in zip(unmatched, masks, strict=True):
            if mask:
                found[i] = (self._first_owner(mask), "ngram")
        return found

    def _ngram_owners(self, texts: list[str]) -> list[int]:
        """Per text, the OR of the owner masks of the indexed windows found in it (0: none); the
        texts are laid end to end, an unknown word between two, so numpy does each step once."""
        if not len(self.hashes) or not texts:
            return [0] * len(texts)
        words: list[str] = []
        starts = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            starts[i] = len(words)
            words += words_of(text)
            words.append("")  # not an evaluation word: the boundary between two texts
        get = self.vocab.get
        values = np.fromiter(map(get, words, repeat(0)), dtype=np.uint64, count=len(words))
        # Windows that contain a word unknown to the evaluation sets cannot match: skipped.
        unknown = np.concatenate(([0], np.cumsum(values == 0)))
        masks = np.zeros(len(texts), dtype=np.uint64)
        length, windows = 1, values  # windows of every length, each from the one before
        for n in sorted({self.ngram, *self.short_lengths}):
            windows = window_hashes(values, n, windows, length)
            length = n
            if not len(windows):
                break
            at = np.flatnonzero(unknown[n:] == unknown[:-n])
            prefix = windows[at] >> np.uint64(64 - _FILTER_BITS)  # the bitmap: no false negatives
            at = at[(self.prefixes[prefix >> np.uint64(3)] & _bit(prefix)) != 0]
            candidates = windows[at]
            found = np.searchsorted(self.hashes, candidates)
            found[found == len(self.hashes)] = 0
            hit = self.hashes[found] == candidates
            owner_of = np.searchsorted(starts, at[hit], side="right") - 1
            np.bitwise_or.at(masks, owner_of, self.owners[found[hit]])
        return [int(mask) for mask in masks]

    def summary(self) -> dict[str, Any]:
        """Items, n-grams and PMIDs per benchmark, and the window length, for the manifest."""
        return {
            "ngram": self.ngram,
            "min_short_item_words": MIN_SHORT_ITEM_WORDS,
            "benchmarks": {name: dict(stats) for name, stats in self.stats.items()},
            "files": {name: dict(file) for name, file in self.files.items()},
        }
