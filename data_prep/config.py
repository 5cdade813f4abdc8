"""The data-prep configuration: a typed schema loaded strictly (:mod:`strict_config`).

The field comments here are the reference for each key (docs/data-prep.md points at them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import MISSING

from data_prep.document import PrepError
from strict_config import load_structured

SOURCE_KINDS = ("medline", "pmc", "pile", "jsonl")
PILE_PUBMED_SUBSETS = ["PubMed Abstracts", "PubMed Central"]
DEFAULT_CATALOGUE = "medtasks/tasks.yaml"  # the gauntlet's task catalogue, read as data
MIN_VOCAB_SIZE = 257  # the 256 byte-level symbols and EOS
# 2**20 tokens: four times the largest vocabularies in use (~256k; BioMedLM's is 28,896). Above
# it the embedding alone outweighs a 2.7B model (2**20 rows x 2560), and the Rust BPE trainer
# reserves tens of bytes per requested token up front: 2**32 asks 283 GB and aborts the process
# (exit 134, no Python error). MDS shards would hold the ids (uint32).
MAX_VOCAB_SIZE = 2**20


def _at_least(key: str, value: int, low: int, why: str = "") -> None:
    if value < low:
        raise PrepError(f"{key}: must be at least {low}{why}, got {value}")


@dataclass
class SourceConfig:
    """One input: a reader ``kind`` and a ``path`` glob (``**`` allowed)."""

    kind: str = MISSING
    path: str = MISSING
    name: str | None = None  # label in the manifest; defaults to the kind
    pile_subsets: list[str] = field(default_factory=lambda: list(PILE_PUBMED_SUBSETS))
    text_field: str = "text"  # jsonl: field holding the text
    id_field: str | None = "id"  # jsonl: field holding a stable id (else path:line)

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = self.kind


@dataclass
class CleanConfig:
    """Normalisation and quality filters applied to every document."""

    min_words: int = 20
    # MEDLINE's ISO 639-2 codes ("en" is "eng"); a document in any of them is kept ("eng; fre"
    # too); []: all
    languages: list[str] = field(default_factory=lambda: ["eng"])
    keep_unknown_language: bool = True  # a document without a language (or "und") is kept

    def __post_init__(self) -> None:
        _at_least("clean.min_words", self.min_words, 0)


@dataclass
class BenchmarkFile:
    """An evaluation set to decontaminate against (JSONL)."""

    path: str = MISSING
    text_fields: list[str] = field(
        default_factory=lambda: ["question", "options", "answer_rationale"]
    )
    pmid_field: str | None = None  # PubMedQA: realidx is the PMID of its abstract


@dataclass
class DecontaminateConfig:
    """Drop documents overlapping the evaluation sets, by PMID and by long n-grams."""

    enabled: bool = True  # with nothing to check (no catalogue, no benchmarks): an error
    ngram: int = 13
    catalogue: str | None = DEFAULT_CATALOGUE  # its tasks' data files; null: benchmarks only
    # more files, by name; a file also in the catalogue is checked with these settings, a
    # catalogue benchmark's name given to another file is an error
    benchmarks: dict[str, BenchmarkFile] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _at_least("decontaminate.ngram", self.ngram, 1)


@dataclass
class SplitConfig:
    """Deterministic train/validation split by a hash of each document's id."""

    validation_fraction: float = 0.005
    salt: str = "biomedlm"

    def __post_init__(self) -> None:
        if not 0.0 <= self.validation_fraction < 1.0:
            raise PrepError(
                f"split.validation_fraction: must be in [0, 1), got {self.validation_fraction}"
            )


@dataclass
class TokenizerConfig:
    """Train a byte-level BPE as BioMedLM did, or reuse a Hugging Face tokenizer directory."""

    path: str | None = None  # reuse this tokenizer directory instead of training
    vocab_size: int = 28896
    min_frequency: int = 2
    eos_token: str = "<|endoftext|>"
    model_max_length: int = 1024

    def __post_init__(self) -> None:
        _at_least("tokenizer.vocab_size", self.vocab_size, MIN_VOCAB_SIZE, " (256 bytes + EOS)")
        if self.vocab_size > MAX_VOCAB_SIZE:
            raise PrepError(
                f"tokenizer.vocab_size: must be at most {MAX_VOCAB_SIZE} (2**20), got "
                f"{self.vocab_size}; BioMedLM uses 28896"
            )
        _at_least("tokenizer.min_frequency", self.min_frequency, 0)
        _at_least("tokenizer.model_max_length", self.model_max_length, 1)
        if not self.eos_token:
            raise PrepError("tokenizer.eos_token: must not be empty")


@dataclass
class PackConfig:
    """Tokenize, concatenate with EOS, cut into ``seq_len`` samples, write MDS shards."""

    seq_len: int = 1024
    batch_docs: int = 1024  # documents per encode_batch call
    compression: str | None = "zstd"
    hashes: list[str] = field(default_factory=lambda: ["sha1", "xxh64"])
    size_limit: str = "64mb"
    # the final partial sample of a split is always dropped (its tokens counted in the manifest's
    # dropped_tail_tokens); the key stays in the config because the pack stage's fingerprint
    # holds it: removing it would re-pack every prepared corpus
    drop_last: bool = True

    def __post_init__(self) -> None:
        # compression, hashes and size_limit are checked against streaming's own lists before
        # the first stage (data_prep.preflight): importing streaming here would slow every load.
        _at_least("pack.seq_len", self.seq_len, 1)
        _at_least("pack.batch_docs", self.batch_docs, 1)
        if not self.drop_last:
            raise PrepError(
                "pack.drop_last: false is not supported: packing always drops a split's final "
                "partial sample (counted as dropped_tail_tokens in the manifest); remove the key"
            )


@dataclass
class PrepConfig:
    """The whole data-prep run: sources in, shards + tokenizer + manifest out."""

    sources: list[SourceConfig] = MISSING
    output_dir: str = MISSING
    on_error: str = "raise"  # raise | skip (bad records are counted in the manifest)
    workers: int = 0  # reader processes; 0 = one per CPU core
    force: bool = False  # redo finished stages
    keep_intermediate: bool = True
    clean: CleanConfig = field(default_factory=CleanConfig)
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    pack: PackConfig = field(default_factory=PackConfig)

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "skip"):
            raise PrepError(f"on_error: expected 'raise' or 'skip', got {self.on_error!r}")
        if not self.sources:
            raise PrepError("sources: at least one source is required")
        for i, source in enumerate(self.sources):
            if source.kind not in SOURCE_KINDS:
                raise PrepError(
                    f"sources[{i}].kind: unknown kind {source.kind!r}; "
                    f"expected one of {', '.join(SOURCE_KINDS)}"
                )
        _at_least("workers", self.workers, 0, " (0: one per CPU core)")
        if self.workers == 0:
            self.workers = os.cpu_count() or 1


def load_config(path: str | Path, overrides: list[str] | None = None) -> PrepConfig:
    """Load ``path`` into a :class:`PrepConfig`, applying ``key=value`` overrides."""
    return load_structured(PrepConfig, path, overrides, error=PrepError)
