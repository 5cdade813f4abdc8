"""The run's manifest: what went in, what was removed and why, what came out, and how.

Training checks the shards it reads against its tokenizer with two stable fields: ``samples``
(``seq_len``, ``column``, ``dtype``) and ``tokenizer``, whose :data:`IDENTITY_KEYS` are
:func:`tokenizer_identity` of the published ``tokenizer/``, computed again on the consumer's.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from data_prep.document import PrepError

MANIFEST_VERSION = 2
IDENTITY_KEYS = ("sha256", "vocab_size", "eos_token", "eos_id", "special_tokens")
_SUMS = ("read", "kept", "chars", "deleted_ids")  # per-file counts summed per source
_TALLIES = ("skipped", "dropped", "rejected", "decontaminated")  # counts by reason

PACKAGES = (
    "biomedlm", "tokenizers", "transformers", "mosaicml-streaming", "mosaicml", "llm-foundry",
    "torch", "numpy", "omegaconf",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _backend_json(tokenizer_dir: Path) -> str:
    """The tokenizers-library JSON of a directory (``tokenizer.json``, else converted by HF)."""
    path = tokenizer_dir / "tokenizer.json"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise PrepError(f"{tokenizer_dir}: not a tokenizer ({str(exc).splitlines()[0]})") from None
    if not hf.is_fast:
        raise PrepError(f"{tokenizer_dir}: no fast (tokenizers) version of this tokenizer")
    return str(hf.backend_tokenizer.to_str())


def eos_token(tokenizer_dir: Path) -> str | None:
    """The EOS token a saved tokenizer directory names (its config, else its special tokens)."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = tokenizer_dir / name
        if path.is_file():
            token = json.loads(path.read_text()).get("eos_token")
            token = token.get("content") if isinstance(token, dict) else token
            if isinstance(token, str):
                return token
    return None


def tokenizer_identity(tokenizer_dir: str | Path) -> dict[str, Any]:
    """What makes token ids mean the same thing; ``sha256`` is over the canonical JSON of what maps
    text to ids (model, normaliser, pre-tokeniser, added tokens, EOS), so a re-saved copy matches."""
    from tokenizers import Tokenizer

    tokenizer_dir = Path(tokenizer_dir)
    if not tokenizer_dir.is_dir():
        raise PrepError(f"{tokenizer_dir}: tokenizer directory not found")
    text = _backend_json(tokenizer_dir)
    spec = json.loads(text)
    eos = eos_token(tokenizer_dir)
    added = [[t["id"], t["content"], bool(t.get("special"))] for t in spec.get("added_tokens", [])]
    canonical = {
        "model": spec.get("model"),
        "normalizer": spec.get("normalizer"),
        "pre_tokenizer": spec.get("pre_tokenizer"),
        "added_tokens": sorted(added),
        "eos_token": eos,
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    tokenizer = Tokenizer.from_str(text)
    return {
        "sha256": hashlib.sha256(blob.encode()).hexdigest(),
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "eos_token": eos,
        "eos_id": tokenizer.token_to_id(eos) if eos is not None else None,
        "special_tokens": sorted(content for _, content, special in added if special),
    }


def per_source(extract_stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Files, documents read and kept, and removals by reason, summed per source."""
    sources: dict[str, dict[str, Any]] = {}
    for stats in extract_stats:
        entry = sources.setdefault(
            stats["source"],
            {"files": 0, **dict.fromkeys(_SUMS, 0)} | {k: Counter() for k in _TALLIES},
        )
        entry["files"] += 1
        for key in _SUMS:
            entry[key] += stats[key]
        for key in _TALLIES:
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
    tokenizer_dir: Path,
) -> dict[str, Any]:
    """Assemble the manifest from each stage's stored record (cached stages included)."""
    extract_stats = records["extract"]["stats"]["files"]
    select = records["select"]["stats"]
    pack = records["pack"]["stats"]
    identity = tokenizer_identity(tokenizer_dir)
    stats = records["tokenizer"]["stats"]
    tokenizer = {**identity, **{k: v for k, v in stats.items() if k not in identity}}
    dtypes = {stats["dtype"] for stats in pack.values()}
    return {
        "manifest_version": MANIFEST_VERSION,
        "tokenizer": tokenizer,
        "samples": {
            "seq_len": config["pack"]["seq_len"],
            "column": "tokens",
            "dtype": dtypes.pop() if len(dtypes) == 1 else None,
        },
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
        "config": config,
        "versions": package_versions(),
        "timings": timings,
    }
