"""Exact deduplication across sources, by document id and by text, from 64-bit hashes only.

Files come in corpus order (sources as configured, each one's files sorted, so MEDLINE update
files follow the baseline). By id, the last appearance is the current version (earlier ones:
``duplicate_id``), a version a later file read and left out (filtered, no abstract,
decontaminated) included, and a deletion that comes after it drops it (``deleted``); of what is left,
the first copy of a text is kept (later ones: ``duplicate_text``). All numpy over uint64 arrays,
about 32 bytes per document at peak: the whole of PubMed fits in memory.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

DROP_REASONS = ("duplicate_id", "deleted", "duplicate_text")


def id_hash(s: str) -> int:
    """A stable 64-bit hash of a document id (the same in every process and run)."""
    data = s.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


text_hash = id_hash  # a document's text (already normalised) is hashed as an id is


@dataclass
class FileKeys:
    """One file's hashes: its documents' ids and texts in document order, its deleted ids, and
    the ids of the versions it read and left out."""

    id_hashes: np.ndarray
    text_hashes: np.ndarray
    deleted_hashes: np.ndarray
    left_out_hashes: np.ndarray


def plan_dedup(files: Sequence[FileKeys]) -> tuple[list[np.ndarray], dict[str, int]]:
    """A mask per file of the documents to keep, and the drop counts (every reason, zeros too)."""
    if not files:
        return [], dict.fromkeys(DROP_REASONS, 0)
    ends = np.cumsum([len(f.id_hashes) for f in files], dtype=np.int64)
    ids = np.concatenate([f.id_hashes for f in files])
    order = np.argsort(ids, kind="stable")  # equal ids stay in corpus order
    current = np.zeros(len(ids), dtype=bool)
    current[order[_last_of_runs(ids[order])]] = True
    # A version a later file read and left out (an update whose revision lost its abstract)
    # supersedes the document; it stands at the start of its file (the order within one file is
    # not recorded). A deletion stands after its file's documents; only the latest one counts.
    starts = np.concatenate([[0], ends[:-1]])
    current &= ~_named_after(ids, [f.left_out_hashes for f in files], starts)
    deleted = current & _named_after(ids, [f.deleted_hashes for f in files], ends)
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


def _last_of_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """True at the last of each run of equal values in ``sorted_keys``."""
    last = np.ones(len(sorted_keys), dtype=bool)
    last[:-1] = sorted_keys[1:] != sorted_keys[:-1]
    return last


def _named_after(ids: np.ndarray, named: list[np.ndarray], when_of_file: np.ndarray) -> np.ndarray:
    """True where an id in ``named[f]`` (standing at position ``when_of_file[f]``) names the
    document's id after the document's position (only the latest naming counts)."""
    if not sum(len(d) for d in named):
        return np.zeros(len(ids), dtype=bool)
    keys = np.concatenate(named)
    when = np.repeat(when_of_file, [len(d) for d in named])
    order = np.lexsort((when, keys))  # by id, then by position: the last of a run is the latest
    last = _last_of_runs(keys[order])
    keys, latest = keys[order][last], when[order][last]
    slot = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
    return (keys[slot] == ids) & (latest[slot] > np.arange(len(ids)))
