"""Deterministic train/validation assignment from a salted hash of each document's id.

A document's split depends only on its id and the salt, never on the corpus around it, so adding
sources or files does not move documents between splits, and every process agrees.
"""

from __future__ import annotations

from functools import lru_cache

from data_prep.config import SplitConfig
from data_prep.dedup import id_hash

_MASK = (1 << 64) - 1


def _threshold(fraction: float) -> int:
    """Mixed hashes below this value go to validation."""
    return min(int(fraction * 2.0**64), _MASK)


@lru_cache(maxsize=8)
def _salt_hash(salt: str) -> int:
    return id_hash(salt)


def _mix(x: int) -> int:
    """splitmix64's finaliser: spreads every input bit over the whole 64-bit output."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def split_of(doc_id: str, cfg: SplitConfig) -> str:
    """``"validation"`` for about ``cfg.validation_fraction`` of ids, else ``"train"``."""
    mixed = _mix(id_hash(doc_id) ^ _salt_hash(cfg.salt))
    return "validation" if mixed < _threshold(cfg.validation_fraction) else "train"
