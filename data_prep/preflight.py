"""Checks of a config that need the libraries or the file system, before the first stage: the
shard format against mosaicml-streaming's own lists, the tokenizer to reuse, the benchmark files
and the output folder (the schema checks ranges as it loads)."""

from __future__ import annotations

from pathlib import Path

from data_prep.catalogue import benchmarks_to_check
from data_prep.config import BenchmarkFile, PackConfig, PrepConfig
from data_prep.document import PrepError
from data_prep.files import write_refused
from data_prep.tokenizer import load_tokenizer_dir

MAX_SHARD_BYTES = 2**32 - 1  # MDSWriter's limit


def check_pack(cfg: PackConfig) -> None:
    """``compression``, ``hashes`` and ``size_limit`` as MDSWriter will accept them."""
    from streaming.base.compression import get_compressions, is_compression
    from streaming.base.hashing import get_hashes, is_hash
    from streaming.base.util import bytes_to_int

    if cfg.compression is not None and not is_compression(cfg.compression):
        families = sorted({name.split(":")[0] for name in get_compressions()})
        raise PrepError(
            f"pack.compression: unknown {cfg.compression!r}; expected null or one of "
            f"{', '.join(families)} (a level as zstd:7)"
        )
    for name in cfg.hashes:
        if not is_hash(name):
            raise PrepError(
                f"pack.hashes: unknown {name!r}; expected some of {', '.join(sorted(get_hashes()))}"
            )
    try:
        size = bytes_to_int(cfg.size_limit)
    except (ValueError, TypeError, AttributeError):
        size = -1
    if not 0 < size <= MAX_SHARD_BYTES:
        raise PrepError(
            f"pack.size_limit: {cfg.size_limit!r} is not a shard size between 1b and 4gb "
            "(e.g. 64mb)"
        )


def preflight(cfg: PrepConfig) -> dict[str, BenchmarkFile]:
    """Check ``cfg`` before any work; returns the benchmark files decontamination will read."""
    check_pack(cfg.pack)
    if cfg.tokenizer.path is not None:
        load_tokenizer_dir(Path(cfg.tokenizer.path), cfg.tokenizer)
    benchmarks = benchmarks_to_check(cfg.decontaminate)
    for name, spec in benchmarks.items():
        if not Path(spec.path).is_file():
            raise PrepError(f"decontaminate benchmark {name}: {spec.path} not found")
    refused = write_refused(Path(cfg.output_dir).absolute())
    if refused is not None:
        raise PrepError(f"{cfg.output_dir}: output folder is not writable ({refused})")
    return benchmarks
