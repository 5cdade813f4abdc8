"""The data-prep pipeline: sources -> clean, decontaminated, deduplicated text -> tokenizer -> MDS.

Stages run in order and each is skipped on a rerun when its done-marker's fingerprint still
matches (``force=True`` redoes them all)::

    extract    parse, clean, filter, decontaminate every input file (worker processes)
    select     deduplicate across sources, split train/validation
    tokenizer  train the byte-level BPE (or copy a given tokenizer directory)
    pack       tokenize, append EOS, pack into seq_len samples, write MDS shards per split

Output folder: ``tokenizer/``, ``train/``, ``validation/``, ``manifest.json`` and ``.work/``
(intermediates and done-markers).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from data_prep.config import PrepConfig, config_as_dict
from data_prep.decontaminate import EvalIndex
from data_prep.document import PrepError
from data_prep.extract import plan_tasks, remove_stale, run_extract
from data_prep.manifest import build_manifest
from data_prep.packing import pack_split
from data_prep.selection import SPLITS, iter_texts, select_and_split
from data_prep.stages import StageMarkers, atomic_dir, fingerprint, write_json_atomic
from data_prep.tokenizer import copy_tokenizer, train_tokenizer

log = logging.getLogger(__name__)


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise PrepError(f"{out}: output folder is not writable ({exc.strerror})") from None


class _Run:
    """One pipeline run: stage bookkeeping shared by the stage methods below."""

    def __init__(self, cfg: PrepConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self.work = self.out / ".work"
        self.markers = StageMarkers(self.work, force=cfg.force)
        self.records: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, Any] = {}

    def stage(
        self, name: str, fp: str, outputs: list[Path], body: Callable[[], dict[str, Any]]
    ) -> str:
        """Run ``body`` unless ``name`` already finished with ``fp`` and its outputs exist."""
        record = self.markers.finished(name, fp)
        if record is not None and all(p.exists() for p in outputs):
            log.info("stage %s: done already (fingerprint %s), skipped", name, fp)
            self.timings[name] = "cached"
        else:
            start = time.perf_counter()
            stats = body()
            record = self.markers.mark(name, fp, stats, time.perf_counter() - start)
            self.timings[name] = record["seconds"]
        self.records[name] = record
        return fp

    def extract(self) -> tuple[str, list[Any]]:
        extract_dir = self.work / "extract"
        extract_dir.mkdir(parents=True, exist_ok=True)
        tasks = plan_tasks(self.cfg, extract_dir)
        fp = fingerprint([t.key for t in tasks])
        if self.cfg.force:
            shutil.rmtree(extract_dir)
            extract_dir.mkdir()

        def body() -> dict[str, Any]:
            index = (
                EvalIndex.from_config(self.cfg.decontaminate)
                if self.cfg.decontaminate.enabled
                else None
            )
            files = run_extract(tasks, index, self.cfg.workers)
            remove_stale(extract_dir, tasks)
            return {"files": files, "eval_index": index.summary() if index else None}

        self.stage("extract", fp, [extract_dir], body)
        return fp, tasks

    def select(self, fp_extract: str, tasks: list[Any]) -> str:
        text_dir = self.work / "text"
        fp = fingerprint(fp_extract, asdict(self.cfg.split))

        def body() -> dict[str, Any]:
            stats = select_and_split(tasks, self.cfg.split, text_dir)
            if stats["documents"]["train"] == 0:
                raise PrepError(
                    "empty corpus: no document left for training after cleaning, "
                    f"decontamination and deduplication (see {self.work / 'extract'}/*.stats.json)"
                )
            return stats

        return self.stage("select", fp, [text_dir], body)

    def tokenizer(self, fp_select: str) -> str:
        tcfg = self.cfg.tokenizer
        final = self.out / "tokenizer"
        if tcfg.path is not None:
            src = Path(tcfg.path)
            stamp = (
                [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(src.glob("*"))]
                if src.is_dir()
                else []
            )
            fp = fingerprint(asdict(tcfg), stamp)
        else:
            fp = fingerprint(asdict(tcfg), fp_select)

        def body() -> dict[str, Any]:
            with atomic_dir(final) as tmp:
                if tcfg.path is not None:
                    vocab = copy_tokenizer(Path(tcfg.path), tcfg, tmp)
                else:
                    vocab = train_tokenizer(
                        iter_texts(self.work / "text" / "train.jsonl"), tcfg, tmp
                    )
            if tcfg.path is None and vocab < tcfg.vocab_size:
                log.warning(
                    "tokenizer: the corpus gave %d tokens, fewer than the %d asked",
                    vocab,
                    tcfg.vocab_size,
                )
            return {
                "vocab_size": vocab,
                "requested_vocab_size": tcfg.vocab_size,
                "trained": tcfg.path is None,
                "source": tcfg.path,
            }

        return self.stage("tokenizer", fp, [final], body)

    def pack(self, fp_select: str, fp_tokenizer: str) -> None:
        fp = fingerprint(fp_select, fp_tokenizer, asdict(self.cfg.pack))
        documents = self.records["select"]["stats"]["documents"]
        splits = [s for s in SPLITS if documents[s] > 0]

        def body() -> dict[str, Any]:
            stats: dict[str, Any] = {}
            for split in set(SPLITS) - set(splits):  # an emptied split leaves no stale shards
                shutil.rmtree(self.out / split, ignore_errors=True)
            for split in splits:
                with atomic_dir(self.out / split) as tmp:
                    result = pack_split(
                        iter_texts(self.work / "text" / f"{split}.jsonl"),
                        self.out / "tokenizer",
                        tmp,
                        self.cfg.pack,
                        total_docs=documents[split],
                        desc=f"pack {split}",
                    )
                stats[split] = asdict(result)
            return stats

        self.stage("pack", fp, [self.out / s for s in splits], body)

    def finish(self) -> dict[str, Any]:
        if not self.cfg.keep_intermediate:
            shutil.rmtree(self.work / "extract", ignore_errors=True)
            shutil.rmtree(self.work / "text", ignore_errors=True)
            self.markers.clear("extract")
            self.markers.clear("select")
        manifest = build_manifest(
            config_as_dict(self.cfg),
            self.records,
            self.timings,
            self.records["extract"]["stats"].get("eval_index"),
        )
        write_json_atomic(self.out / "manifest.json", manifest)
        return manifest


def run(cfg: PrepConfig) -> dict[str, Any]:
    """Run every stage that is not already done; returns the manifest (also written to disk)."""
    out = Path(cfg.output_dir)
    _check_writable(out)
    run_ = _Run(cfg)
    start = time.perf_counter()
    fp_extract, tasks = run_.extract()
    fp_select = run_.select(fp_extract, tasks)
    fp_tokenizer = run_.tokenizer(fp_select)
    run_.pack(fp_select, fp_tokenizer)
    run_.timings["total"] = round(time.perf_counter() - start, 3)
    return run_.finish()
