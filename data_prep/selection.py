"""Stage 2: deduplicate across all sources and split into train/validation text files.

Deduplication needs the whole corpus, so it runs once, after extraction, over the per-file
hashes (a few bytes per document); the documents themselves are streamed file by file.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from data_prep.config import SplitConfig
from data_prep.dedup import FileKeys, plan_dedup
from data_prep.extract import ExtractTask
from data_prep.split import split_of
from data_prep.stages import atomic_dir

SPLITS = ("train", "validation")


def load_keys(task: ExtractTask) -> FileKeys:
    with np.load(task.output(".keys.npz")) as keys:
        return FileKeys(
            id_hashes=keys["id_hashes"],
            text_hashes=keys["text_hashes"],
            deleted_hashes=keys["deleted_hashes"],
        )


def select_and_split(tasks: list[ExtractTask], cfg: SplitConfig, text_dir: Path) -> dict[str, Any]:
    """Write ``text_dir/{train,validation}.jsonl`` with the deduplicated documents."""
    masks, drops = plan_dedup([load_keys(t) for t in tasks])
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
                    split = split_of(record["id"], cfg)
                    outs[split].write(line)
                    docs[split][record["source"]] += 1
                    chars[split] += len(record["text"])
    return {
        "dedup_dropped": dict(drops),
        "documents": {split: sum(docs[split].values()) for split in SPLITS},
        "documents_by_source": {split: dict(docs[split]) for split in SPLITS},
        "chars": {split: chars[split] for split in SPLITS},
    }


def iter_texts(text_file: Path) -> Any:
    """The texts of a split file, streamed."""
    with open(text_file, encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)["text"]
