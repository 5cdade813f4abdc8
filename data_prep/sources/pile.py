"""The Pile (``.jsonl[.gz|.zst]``): keep only the wanted subsets (``pile_set_name``).

The Pile has no ids, so a document is named by its file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_prep.config import SourceConfig
from data_prep.document import Document, ReadContext
from data_prep.sources.jsonl import json_records, record_text


def read_pile(path: Path, cfg: SourceConfig, ctx: ReadContext) -> Iterator[Document]:
    """``pile:<file>:<line>`` documents whose ``pile_set_name`` is in ``cfg.pile_subsets`` (the
    others are counted as ``pile_subset``)."""
    wanted = set(cfg.pile_subsets)
    for lineno, record in json_records(path, ctx):
        meta = record.get("meta")
        subset = meta.get("pile_set_name") if isinstance(meta, dict) else None
        if subset not in wanted:
            ctx.skipped["pile_subset"] += 1
            continue
        text = record_text(record, "text", f"{path}:{lineno}", ctx)
        if text is not None:
            yield Document(
                id=f"pile:{path.name}:{lineno}",
                source=ctx.source,
                text=text,
                meta={"pile_set_name": subset},
            )
