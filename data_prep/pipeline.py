"""The data-prep pipeline: extract -> select -> tokenizer -> pack (docs/data-prep.md), each stage
skipped on a rerun while its done-marker's fingerprint still matches. extract and select keep
their outputs in ``.work/``; tokenizer, shards and manifest are built in a new set and published
together (:mod:`data_prep.publish`).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from data_prep.config import BenchmarkFile, PrepConfig
from data_prep.decontaminate import EvalIndex
from data_prep.document import PrepError
from data_prep.extract import plan_tasks, remove_stale, run_extract
from data_prep.files import atomic_dir, remove_temporaries, write_json_atomic
from data_prep.lock import output_lock
from data_prep.manifest import build_manifest, tokenizer_identity
from data_prep.packing import pack_split
from data_prep.preflight import preflight
from data_prep.publish import adopt_legacy, current_set, new_set, publish, staging_sets
from data_prep.selection import SPLITS, iter_texts, select_and_split
from data_prep.stages import StageMarkers, disk_full, fingerprint
from data_prep.tokenizer import copy_tokenizer, train_tokenizer
from strict_config import as_plain_dict

log = logging.getLogger(__name__)
SET_MARKERS = ".stages"  # a set's done-markers of tokenizer and pack


class _Run:
    """One pipeline run: stage bookkeeping shared by the stage methods below."""

    def __init__(self, cfg: PrepConfig, benchmarks: dict[str, BenchmarkFile]) -> None:
        self.cfg = cfg
        self.benchmarks = benchmarks
        self.out = Path(cfg.output_dir)
        self.work = self.out / ".work"
        self.markers = StageMarkers(self.work, force=cfg.force)
        self.records: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, Any] = {}
        self.manifest: dict[str, Any] = {}
        self.start = time.perf_counter()

    def stage(
        self,
        name: str,
        fp: str,
        outputs: list[Path],
        body: Callable[[], dict[str, Any]],
        markers: StageMarkers | None = None,
    ) -> str:
        """Run ``body`` unless ``name`` already finished with ``fp`` and its outputs exist."""
        markers = markers or self.markers
        record = markers.finished(name, fp)
        if record is not None and all(p.exists() for p in outputs):
            log.info("stage %s: done already (fingerprint %s), skipped", name, fp)
            self.timings[name] = "cached"
        else:
            start = time.perf_counter()
            record = markers.mark(name, fp, body(), time.perf_counter() - start)
            self.timings[name] = record["seconds"]
        self.records[name] = record
        return fp

    def extract(self) -> tuple[str, list[Any]]:
        extract_dir = self.work / "extract"
        extract_dir.mkdir(parents=True, exist_ok=True)
        tasks = plan_tasks(self.cfg, extract_dir, self.benchmarks)
        fp = fingerprint([t.key for t in tasks])
        if self.cfg.force:
            shutil.rmtree(extract_dir)
            extract_dir.mkdir()

        def body() -> dict[str, Any]:
            index = (
                EvalIndex.from_config(self.cfg.decontaminate, self.benchmarks)
                if self.benchmarks
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

    def outputs(self, fp_select: str) -> None:
        """Tokenizer, shards and manifest: built in a new set, published together."""
        reused = self.cfg.tokenizer.path  # a reused tokenizer: its identity, not its file dates
        depends = tokenizer_identity(reused)["sha256"] if reused is not None else fp_select
        fp_tokenizer = fingerprint(asdict(self.cfg.tokenizer), depends)
        fp_pack = fingerprint(fp_select, fp_tokenizer, asdict(self.cfg.pack))
        current = current_set(self.out)
        if current is not None and self._is_built(current, fp_tokenizer, fp_pack):
            self.finish(current)  # nothing changed: the manifest is refreshed in place
            for other in staging_sets(self.out):  # e.g. sets kept for readers that have ended
                shutil.rmtree(other, ignore_errors=True)
            return
        staging = self._staging(fp_tokenizer)
        try:
            self.tokenizer(staging, fp_tokenizer, current)
            self.pack(staging, fp_pack)
            self.finish(staging)
        except BaseException:
            if not (staging / SET_MARKERS / "tokenizer.done.json").is_file():  # else: resumed
                shutil.rmtree(staging, ignore_errors=True)
            raise
        publish(self.out, staging)

    def _markers(self, set_dir: Path) -> StageMarkers:
        return StageMarkers(set_dir / SET_MARKERS, force=self.cfg.force)

    def _is_built(self, set_dir: Path, fp_tokenizer: str, fp_pack: str) -> bool:
        markers = self._markers(set_dir)
        tokenizer = markers.finished("tokenizer", fp_tokenizer)
        pack = markers.finished("pack", fp_pack)
        if tokenizer is None or pack is None or not (set_dir / "tokenizer").is_dir():
            return False
        if not all((set_dir / s / "index.json").is_file() for s in SPLITS if s in pack["stats"]):
            return False
        log.info("stages tokenizer, pack: done already (fingerprint %s), skipped", fp_pack)
        self.records.update(tokenizer=tokenizer, pack=pack)
        self.timings.update(tokenizer="cached", pack="cached")
        return True

    def _staging(self, fp_tokenizer: str) -> Path:
        """An unpublished set whose tokenizer is already the one needed, or a new set."""
        reusable = None
        for candidate in staging_sets(self.out):
            markers = self._markers(candidate)
            if reusable is None and markers.finished("tokenizer", fp_tokenizer) is not None:
                reusable = candidate
                remove_temporaries([candidate])  # the killed run's shards in progress
                log.info("resuming the unpublished set %s", candidate)
            else:
                shutil.rmtree(candidate, ignore_errors=True)  # a killed or failed run's
        return reusable or new_set(self.out)

    def tokenizer(self, staging: Path, fp: str, current: Path | None) -> None:
        tcfg = self.cfg.tokenizer
        markers, final = self._markers(staging), staging / "tokenizer"
        if current is not None and markers.finished("tokenizer", fp) is None:
            published = self._markers(current).finished("tokenizer", fp)
            if published is not None:  # the published tokenizer is the one: copied
                with atomic_dir(final) as tmp:
                    shutil.copytree(current / "tokenizer", tmp, dirs_exist_ok=True)
                markers.store("tokenizer", published)

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

        self.stage("tokenizer", fp, [final], body, markers)

    def pack(self, staging: Path, fp: str) -> None:
        documents = self.records["select"]["stats"]["documents"]
        splits = [s for s in SPLITS if documents[s] > 0]
        for stale in set(SPLITS) - set(splits):  # a resumed set's, packed for other splits
            shutil.rmtree(staging / stale, ignore_errors=True)

        def body() -> dict[str, Any]:
            stats: dict[str, Any] = {}
            for split in splits:
                with atomic_dir(staging / split) as tmp:
                    result = pack_split(
                        iter_texts(self.work / "text" / f"{split}.jsonl"),
                        staging / "tokenizer",
                        tmp,
                        self.cfg.pack,
                        total_docs=documents[split],
                        desc=f"pack {split}",
                    )
                    if result.samples == 0:  # before publishing: the previous set stays
                        raise PrepError(
                            f"pack.seq_len: the {split} split has {result.tokens} tokens, not one "
                            f"{self.cfg.pack.seq_len}-token sample; set pack.seq_len to at most "
                            f"{result.tokens} (or give {split} more documents)"
                        )
                stats[split] = asdict(result)
            return stats

        self.stage("pack", fp, [staging / s for s in splits], body, self._markers(staging))

    def finish(self, set_dir: Path) -> None:
        """Write the manifest into ``set_dir`` (before it is published)."""
        self.timings["total"] = round(time.perf_counter() - self.start, 3)
        self.manifest = build_manifest(
            as_plain_dict(self.cfg),
            self.records,
            self.timings,
            self.records["extract"]["stats"].get("eval_index"),
            set_dir / "tokenizer",
        )
        write_json_atomic(set_dir / "manifest.json", self.manifest)

    def drop_intermediates(self) -> None:
        if not self.cfg.keep_intermediate:
            for stage, folder in (("extract", "extract"), ("select", "text")):
                shutil.rmtree(self.work / folder, ignore_errors=True)
                self.markers.clear(stage)


def run(cfg: PrepConfig) -> dict[str, Any]:
    """Run every stage not already done; returns the manifest (also written to disk). Bad input,
    a folder in use or a full disk is one :class:`PrepError`; published outputs stay whole."""
    benchmarks = preflight(cfg)
    out = Path(cfg.output_dir)
    with output_lock(out):
        stale = remove_temporaries([out, out / ".work", out / ".work" / "extract"])
        if stale:
            log.info("removed %d temporaries of an earlier, interrupted run", len(stale))
        adopt_legacy(out)
        run_ = _Run(cfg, benchmarks)
        try:
            fp_extract, tasks = run_.extract()
            run_.outputs(run_.select(fp_extract, tasks))
        except Exception as exc:
            full = disk_full(exc)
            if full is None:
                raise
            where = full.filename or out
            raise PrepError(
                f"{where}: no space left on device; free space under {out} and rerun "
                "(finished stages are kept)"
            ) from None
        run_.drop_intermediates()
    return run_.manifest
