"""Exact deduplication across sources, by document id and by text, from 64-bit hashes only.

Files come in corpus order (config source order, then sorted paths, so MEDLINE update files
follow the baseline). The rules, in this order:

1. By id: the last appearance of an id is its current version (an update file revises a record;
   within a file the later record wins); earlier ones are dropped as ``duplicate_id``.
2. Deletions take effect after their file's documents: the current version is dropped as
   ``deleted`` when a deletion of its id comes after it (a later re-appearance revives the id).
3. By text: of the documents left, the first with a given text hash is kept; later ones are
   dropped as ``duplicate_text``.

All numpy over uint64 arrays, about 32 bytes per document at peak: the whole of PubMed fits in
memory, with no Python loop per document.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

DROP_REASONS = ("duplicate_id", "deleted", "duplicate_text")


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def id_hash(s: str) -> int:
    """A stable 64-bit hash of a document id (the same in every process and run)."""
    return _hash64(s.encode("utf-8", "surrogatepass"))


def text_hash(text: str) -> int:
    """A stable 64-bit hash of a document's text; pass text already normalised."""
    return _hash64(text.encode("utf-8", "surrogatepass"))


@dataclass
class FileKeys:
    """One file's hashes: its documents' ids and texts in document order, and its deleted ids."""

    id_hashes: np.ndarray
    text_hashes: np.ndarray
    deleted_hashes: np.ndarray

    def __post_init__(self) -> None:
        self.id_hashes = np.asarray(self.id_hashes, dtype=np.uint64).reshape(-1)
        self.text_hashes = np.asarray(self.text_hashes, dtype=np.uint64).reshape(-1)
        self.deleted_hashes = np.asarray(self.deleted_hashes, dtype=np.uint64).reshape(-1)
        if len(self.id_hashes) != len(self.text_hashes):
            raise ValueError(
                f"FileKeys: {len(self.id_hashes)} id hashes but {len(self.text_hashes)} text hashes"
            )


def plan_dedup(files: Sequence[FileKeys]) -> tuple[list[np.ndarray], dict[str, int]]:
    """A boolean mask per file of the documents to keep (the module's rules, ``files`` in corpus
    order), and the drop counts: every key of :data:`DROP_REASONS`, zero included."""
    if not files:
        return [], dict.fromkeys(DROP_REASONS, 0)
    ends = np.cumsum([len(f.id_hashes) for f in files], dtype=np.int64)
    ids = np.concatenate([f.id_hashes for f in files])
    current = _last_appearances(ids)
    deleted = current & _deleted_after(ids, files, ends)
    keep = current & ~deleted
    del ids
    texts = np.concatenate([f.text_hashes for f in files])
    kept_positions = np.flatnonzero(keep)
    _, first = np.unique(texts[kept_positions], return_index=True)  # first occurrence of each
    unique_text = np.zeros(len(keep), dtype=bool)
    unique_text[kept_positions[first]] = True
    drops = {
        "duplicate_id": int(len(keep) - np.count_nonzero(current)),
        "deleted": int(np.count_nonzero(deleted)),
        "duplicate_text": int(len(kept_positions) - len(first)),
    }
    keep &= unique_text
    log.info("dedup: %d of %d documents kept; dropped %s", keep.sum(), len(keep), drops)
    return np.split(keep, ends[:-1]), drops


def _last_appearances(ids: np.ndarray) -> np.ndarray:
    """True where a document is the last one carrying its id."""
    order = np.argsort(ids, kind="stable")  # equal ids stay in corpus order
    sorted_ids = ids[order]
    last_in_run = np.ones(len(ids), dtype=bool)
    last_in_run[:-1] = sorted_ids[1:] != sorted_ids[:-1]
    current = np.zeros(len(ids), dtype=bool)
    current[order[last_in_run]] = True
    return current


def _deleted_after(ids: np.ndarray, files: Sequence[FileKeys], ends: np.ndarray) -> np.ndarray:
    """True where a deletion of a document's id comes after the document.

    A deletion in file ``f`` stands at position ``ends[f]`` (after that file's documents), so
    it removes the document at position ``p`` when ``ends[f] > p``; only the latest deletion of
    each id matters.
    """
    deleted_ids = [f.deleted_hashes for f in files]
    if not sum(len(d) for d in deleted_ids):
        return np.zeros(len(ids), dtype=bool)
    keys = np.concatenate(deleted_ids)
    when = np.repeat(ends, [len(d) for d in deleted_ids])
    order = np.lexsort((when, keys))  # by id, then by position: the last of a run is the latest
    keys, when = keys[order], when[order]
    last_in_run = np.ones(len(keys), dtype=bool)
    last_in_run[:-1] = keys[1:] != keys[:-1]
    keys, latest = keys[last_in_run], when[last_in_run]
    slot = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
    return (keys[slot] == ids) & (latest[slot] > np.arange(len(ids)))
