"""Stage 1: read every source file in parallel, clean, filter and decontaminate its documents.

Each input file becomes a JSONL of kept documents, an ``.npz`` of their id and text hashes (for
deduplication) and, last, a ``.stats.json`` that marks it done; outputs are keyed by what shapes
them (:func:`plan_tasks`), so a rerun reads only new or changed files.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from tqdm import tqdm

from data_prep.cleaning import normalize_text, rejection_reason
from data_prep.config import BenchmarkFile, CleanConfig, PrepConfig, SourceConfig
from data_prep.decontaminate import EvalIndex
from data_prep.dedup import id_hash, text_hash
from data_prep.document import Document, OnError, ReadContext
from data_prep.files import atomic_write, remove_temporaries, write_json_atomic
from data_prep.sources import READERS, expand_sources
from data_prep.stages import file_digest, fingerprint

log = logging.getLogger(__name__)
DECONTAMINATION_BATCH = 256  # documents matched against the evaluation index in one pass
KEYS_FORMAT = 2  # what .keys.npz holds (2: the ids left out, too): outputs of another re-extract


@dataclass(frozen=True)
class ExtractTask:
    """One input file and everything needed to process it in a worker process."""

    key: str
    path: str
    source: SourceConfig
    clean: CleanConfig
    on_error: OnError
    out_dir: str

    def output(self, suffix: str) -> Path:
        return Path(self.out_dir) / f"{self.key}{suffix}"


def plan_tasks(
    cfg: PrepConfig, out_dir: Path, benchmarks: dict[str, BenchmarkFile]
) -> list[ExtractTask]:
    """One task per input file, in dedup order; its key covers the file (path, size, mtime), the
    cleaning settings and the decontamination settings with each benchmark file's content."""
    checked = {
        name: {**asdict(spec), "sha1": file_digest(Path(spec.path))}
        for name, spec in benchmarks.items()
    }
    shaping = (asdict(cfg.clean), cfg.decontaminate.ngram, checked, cfg.on_error, KEYS_FORMAT)
    tasks = []
    for source, path in expand_sources(cfg.sources):
        stat = path.stat()
        key = fingerprint(
            asdict(source), str(path.resolve()), stat.st_size, stat.st_mtime_ns, shaping
        )
        tasks.append(
            ExtractTask(key, str(path), source, cfg.clean, cfg.on_error, str(out_dir))  # type: ignore[arg-type]
        )
    return tasks


_INDEX: EvalIndex | None = None


def _init_worker(index: EvalIndex | None) -> None:
    global _INDEX
    _INDEX = index


@dataclass
class _Kept:
    """What one file gives: the counts of its stats file and the hashes of the documents kept."""

    read: int = 0
    chars: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    decontaminated: Counter[str] = field(default_factory=Counter)
    id_hashes: list[int] = field(default_factory=list)
    text_hashes: list[int] = field(default_factory=list)


def _cleaned(task: ExtractTask, ctx: ReadContext, kept: _Kept) -> Iterator[Document]:
    """The file's documents, normalised, that pass the filters."""
    for doc in READERS[task.source.kind](Path(task.path), task.source, ctx):
        kept.read += 1
        doc.text = normalize_text(doc.text)
        reason = rejection_reason(doc, task.clean)
        if reason is None:
            yield doc
        else:
            kept.rejected[reason] += 1
            ctx.left_out.append(doc.id)


def _write_uncontaminated(
    batch: list[Document], out: TextIO, kept: _Kept, ctx: ReadContext
) -> None:
    """Write the documents of ``batch`` that overlap no evaluation item; count the others."""
    hits = _INDEX.match_batch(batch) if _INDEX is not None else [None] * len(batch)
    for doc, hit in zip(batch, hits, strict=True):
        if hit is not None:
            kept.decontaminated[f"{hit[0]}:{hit[1]}"] += 1
            ctx.left_out.append(doc.id)
            continue
        record = {"id": doc.id, "source": doc.source, "text": doc.text, "meta": doc.meta}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        kept.id_hashes.append(id_hash(doc.id))
        kept.text_hashes.append(text_hash(doc.text))
        kept.chars += len(doc.text)


def _save_keys(tmp: Path, kept: _Kept, ctx: ReadContext) -> None:
    """The hashes for deduplication."""
    with open(tmp, "wb") as out:
        np.savez(
            out,
            id_hashes=np.array(kept.id_hashes, dtype=np.uint64),
            text_hashes=np.array(kept.text_hashes, dtype=np.uint64),
            deleted_hashes=np.array([id_hash(i) for i in ctx.deleted], dtype=np.uint64),
            left_out_hashes=np.array([id_hash(i) for i in ctx.left_out], dtype=np.uint64),
        )


def extract_file(task: ExtractTask) -> dict[str, Any]:
    """Read, clean, filter and decontaminate one file; returns (and stores) its statistics."""
    stats_path = task.output(".stats.json")
    if stats_path.is_file():
        return json.loads(stats_path.read_text())
    ctx = ReadContext(source=task.source.name or task.source.kind, on_error=task.on_error)
    kept = _Kept()

    def write_docs(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as out:
            docs = _cleaned(task, ctx, kept)
            while batch := list(islice(docs, DECONTAMINATION_BATCH)):
                _write_uncontaminated(batch, out, kept, ctx)

    atomic_write(task.output(".jsonl"), write_docs)
    if kept.read == 0:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(ctx.skipped.items()))
        log.warning("%s: gave no documents (%s)", task.path, skipped or "nothing in it to read")
    elif not kept.id_hashes:  # e.g. every document in a language clean.languages does not name
        left = kept.rejected + Counter(decontaminated=kept.decontaminated.total())
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(left.items()))
        log.warning(
            "%s: kept none of its %d documents (left out: %s)", task.path, kept.read, reasons
        )
    atomic_write(task.output(".keys.npz"), lambda tmp: _save_keys(tmp, kept, ctx))
    stats = {
        "path": task.path,
        "source": ctx.source,
        "read": kept.read,
        "kept": len(kept.id_hashes),
        "chars": kept.chars,
        "skipped": dict(ctx.skipped),
        "dropped": dict(ctx.dropped),
        "rejected": dict(kept.rejected),
        "decontaminated": dict(kept.decontaminated),
        "deleted_ids": len(ctx.deleted),
    }
    write_json_atomic(stats_path, stats)
    return stats


def run_extract(
    tasks: list[ExtractTask], index: EvalIndex | None, workers: int
) -> list[dict[str, Any]]:
    """Process all files, ``workers`` at a time; results in task order."""
    results: list[dict[str, Any]] = []
    kept = 0
    pool = None
    if workers > 1 and len(tasks) > 1:
        pool = mp.get_context("fork").Pool(min(workers, len(tasks)), _init_worker, (index,))
    else:
        _init_worker(index)
    # disable=None: bars only on a terminal (in a file or pipe each update is a line)
    with tqdm(total=len(tasks), desc="extract", unit="file", disable=None) as bar:
        try:
            for stats in pool.imap(extract_file, tasks) if pool else map(extract_file, tasks):
                results.append(stats)
                kept += stats["kept"]
                bar.update(1)
                bar.set_postfix(docs=kept)
        except BaseException:
            if pool is not None:  # stop the workers now: a failed file, or Ctrl-C
                pool.terminate()
                pool.join()
            # the failed file's temporaries, and those of the files the workers were writing (this
            # run holds the output folder's lock: every temporary in it is this run's)
            remove_temporaries({Path(task.out_dir) for task in tasks})
            raise
        if pool is not None:
            # Every result is in, so the workers are idle: let them exit. Pool.terminate() here
            # could hang (seen in the test suite): its handler thread may start a replacement
            # worker while terminate kills the others, and that worker waits forever for the
            # task queue's lock, which a killed worker held.
            pool.close()
            pool.join()
    return results


def remove_stale(out_dir: Path, tasks: list[ExtractTask]) -> None:
    """Delete outputs of files no longer in the config (or changed since)."""
    keep = {t.key for t in tasks}
    for path in out_dir.iterdir():
        if path.name.split(".", 1)[0] not in keep:
            path.unlink()
