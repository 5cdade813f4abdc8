"""JSONL corpora, plain or the Pile, read line by line (``.jsonl[.gz|.zst]``).

Every JSONL-based reader decodes lines here, so a bad line is reported the same way everywhere:
``file:line: invalid JSON (...)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_prep.config import SourceConfig
from data_prep.document import Document, ReadContext
from data_prep.files import file_label
from data_prep.sources.opening import text_lines

_META_FIELDS = ("pmid", "pmcid", "language", "title")


def json_records(path: Path, ctx: ReadContext) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each non-blank line of a (compressed) JSONL file; a line that
    is not a JSON object is bad input at ``file:line``."""
    for lineno, line in text_lines(path, ctx):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            ctx.bad(f"{path}:{lineno}", f"invalid JSON ({exc.msg}, column {exc.colno})")
            continue
        if not isinstance(record, dict):
            ctx.bad(f"{path}:{lineno}", f"expected a JSON object, got {type(record).__name__}")
            continue
        yield lineno, record


def record_text(record: dict[str, Any], field: str, where: str, ctx: ReadContext) -> str | None:
    """``record[field]`` if it is a string; otherwise report ``where`` and return None."""
    text = record.get(field)
    if isinstance(text, str):
        return text
    problem = "missing" if text is None else f"not a string ({type(text).__name__})"
    ctx.bad(where, f"text field {field!r} is {problem}")
    return None


def read_jsonl(path: Path, cfg: SourceConfig, ctx: ReadContext) -> Iterator[Document]:
    """One document per line: its text from ``cfg.text_field``, its id ``record[cfg.id_field]``
    (else ``<path>:<line>``, the path as the source's glob gave it: two ``train.jsonl`` in two
    folders must not collide), and the record's ``pmid``, ``pmcid``, ``language`` and
    ``title`` in ``meta`` (strings, or integers for identifiers written as numbers)."""
    for lineno, record in json_records(path, ctx):
        text = record_text(record, cfg.text_field, f"{path}:{lineno}", ctx)
        if text is None:
            continue
        raw_id = record.get(cfg.id_field) if cfg.id_field else None
        doc_id = str(raw_id) if raw_id is not None else f"{file_label(path)}:{lineno}"
        meta = {
            key: str(value)
            for key in _META_FIELDS
            if isinstance(value := record.get(key), str | int) and not isinstance(value, bool)
        }
        yield Document(id=doc_id, source=ctx.source, text=text, meta=meta)


def read_pile(path: Path, cfg: SourceConfig, ctx: ReadContext) -> Iterator[Document]:
    """``pile:<path>:<line>`` documents (the Pile has no ids; the path as the glob gave it) whose
    ``pile_set_name`` is in ``cfg.pile_subsets`` (the others are counted as ``pile_subset``)."""
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
                id=f"pile:{file_label(path)}:{lineno}",
                source=ctx.source,
                text=text,
                meta={"pile_set_name": subset},
            )
