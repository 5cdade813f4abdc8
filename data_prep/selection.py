"""Stage 2: deduplicate across all sources, then split into train/validation text files.

Deduplication needs the whole corpus, so it runs once, after extraction, over the per-file
hashes; the documents themselves are streamed file by file. A document's split depends only on
its PMID (else its id) and the salt, so adding sources never moves a document to the other split
and a PMC article lands with its own MEDLINE abstract, which it contains.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from data_prep.config import SplitConfig
from data_prep.dedup import FileKeys, id_hash, plan_dedup
from data_prep.extract import ExtractTask
from data_prep.files import atomic_dir

SPLITS = ("train", "validation")
_MASK = (1 << 64) - 1


def split_of(doc_id: str, cfg: SplitConfig) -> str:
    """``"validation"`` for about ``cfg.validation_fraction`` of ids, else ``"train"``."""
    x = id_hash(doc_id) ^ _salt_hash(cfg.salt)
    # splitmix64's finaliser: spreads every input bit over the whole 64-bit output
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return "validation" if x < min(int(cfg.validation_fraction * 2.0**64), _MASK) else "train"


_salt_hash = cache(id_hash)  # one salt per run: hashed once


def split_key(record: dict[str, Any]) -> str:
    """``pmid:<PMID>`` for a document that has one, else its id: a PMC article holds its MEDLINE
    abstract verbatim, so both must fall in the same split (or validation leaks into train)."""
    pmid = record.get("meta", {}).get("pmid")
    return f"pmid:{pmid}" if pmid else str(record["id"])


def select_and_split(tasks: list[ExtractTask], cfg: SplitConfig, text_dir: Path) -> dict[str, Any]:
    """Write ``text_dir/{train,validation}.jsonl`` with the deduplicated documents."""
    keys = []
    for task in tasks:
        with np.load(task.output(".keys.npz")) as saved:
            keys.append(FileKeys(**saved))
    masks, drops = plan_dedup(keys)
    docs: dict[str, Counter[str]] = {split: Counter() for split in SPLITS}
    chars: Counter[str] = Counter()
    with atomic_dir(text_dir) as tmp, ExitStack() as files:
        outs = {
            s: files.enter_context(open(tmp / f"{s}.jsonl", "w", encoding="utf-8")) for s in SPLITS
        }
        for task, mask in tqdm(
            list(zip(tasks, masks, strict=True)), desc="dedup+split", unit="file", disable=None
        ):
            with open(task.output(".jsonl"), encoding="utf-8") as lines:
                for line, keep in zip(lines, mask, strict=True):
                    if not keep:
                        continue
                    record = json.loads(line)
                    split = split_of(split_key(record), cfg)
                    outs[split].write(line)
                    docs[split][record["source"]] += 1
                    chars[split] += len(record["text"])
    return {
        "dedup_dropped": dict(drops),
        "documents": {split: sum(docs[split].values()) for split in SPLITS},
        "documents_by_source": {split: dict(docs[split]) for split in SPLITS},
        "chars": {split: chars[split] for split in SPLITS},
    }


def iter_texts(text_file: Path) -> Iterator[str]:
    """The texts of a split file, streamed."""
    with open(text_file, encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)["text"]
