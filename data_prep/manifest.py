"""The run's manifest: what went in, what was removed and why, what came out, and how."""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata
from typing import Any

PACKAGES = (
    "biomedlm",
    "tokenizers",
    "transformers",
    "mosaicml-streaming",
    "mosaicml",
    "llm-foundry",
    "torch",
    "numpy",
    "omegaconf",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def per_source(extract_stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Files, documents read and kept, and removals by reason, summed per source."""
    sources: dict[str, dict[str, Any]] = {}
    for stats in extract_stats:
        entry = sources.setdefault(
            stats["source"],
            {
                "files": 0,
                "read": 0,
                "kept": 0,
                "chars": 0,
                "deleted_ids": 0,
                "skipped": Counter(),
                "dropped": Counter(),
                "rejected": Counter(),
                "decontaminated": Counter(),
            },
        )
        entry["files"] += 1
        for key in ("read", "kept", "chars", "deleted_ids"):
            entry[key] += stats[key]
        for key in ("skipped", "dropped", "rejected", "decontaminated"):
            entry[key].update(stats[key])
    return {
        name: {k: dict(v) if isinstance(v, Counter) else v for k, v in entry.items()}
        for name, entry in sources.items()
    }


def per_benchmark(
    extract_stats: list[dict[str, Any]], benchmarks: list[str]
) -> dict[str, dict[str, int]]:
    """Documents removed by decontamination, per benchmark and match kind (pmid / ngram)."""
    removed: dict[str, Counter[str]] = {name: Counter(pmid=0, ngram=0) for name in benchmarks}
    for stats in extract_stats:
        for key, count in stats["decontaminated"].items():
            benchmark, how = key.split(":", 1)
            removed.setdefault(benchmark, Counter())[how] += count
    return {name: {**dict(c), "total": sum(c.values())} for name, c in sorted(removed.items())}


def build_manifest(
    config: dict[str, Any],
    records: dict[str, dict[str, Any]],
    timings: dict[str, Any],
    eval_index: dict[str, Any] | None,
) -> dict[str, Any]:
    """Assemble the manifest from each stage's stored record (cached stages included)."""
    extract_stats = records["extract"]["stats"]["files"]
    select = records["select"]["stats"]
    pack = records["pack"]["stats"]
    tokenizer = records["tokenizer"]["stats"]
    return {
        "sources": per_source(extract_stats),
        "decontamination": {
            "removed": per_benchmark(extract_stats, list((eval_index or {}).get("benchmarks", {}))),
            "index": eval_index,
        },
        "deduplication": select["dedup_dropped"],
        "splits": {
            split: {
                "documents": select["documents"][split],
                "documents_by_source": select["documents_by_source"][split],
                "chars": select["chars"][split],
                **pack.get(split, {"tokens": 0, "samples": 0}),
            }
            for split in select["documents"]
        },
        "tokenizer": tokenizer,
        "config": config,
        "versions": package_versions(),
        "timings": timings,
    }
