"""Tokenize, append EOS after each document, concatenate, cut into fixed-length MDS samples.

The Rust tokenizer releases the GIL, so the next batch is tokenized in a background thread while
this one is cut, compressed and written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from streaming import MDSWriter
from tokenizers import Encoding, Tokenizer
from tqdm import tqdm

from data_prep.config import PackConfig
from data_prep.tokenizer import eos_id, without_length_limits

log = logging.getLogger(__name__)


@dataclass
class PackStats:
    documents: int = 0
    tokens: int = 0  # EOS included, dropped tail included
    samples: int = 0
    dropped_tail_tokens: int = 0
    dtype: str = "uint16"
    seconds: float = 0.0


def _encoded(
    pool: ThreadPoolExecutor, tokenizer: Tokenizer, texts: Iterable[str], batch_docs: int
) -> Iterator[tuple[list[Encoding], int]]:
    """``(encodings, documents)`` batch by batch; the next batch is tokenized while this one is
    written (one batch ahead: memory stays bounded)."""
    it = iter(texts)
    in_flight: tuple[Future[list[Encoding]], int] | None = None
    while batch := list(islice(it, batch_docs)):
        encoded = pool.submit(tokenizer.encode_batch, batch, add_special_tokens=False)
        if in_flight is not None:
            yield in_flight[0].result(), in_flight[1]
        in_flight = (encoded, len(batch))
    if in_flight is not None:
        yield in_flight[0].result(), in_flight[1]


def _cut(
    carry: np.ndarray, encodings: list[Encoding], eos: np.ndarray, seq_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """The whole ``seq_len`` rows of ``carry`` then each document followed by ``eos``, and the
    rest (carried into the next batch)."""
    pieces = [carry]
    for enc in encodings:
        pieces += [np.asarray(enc.ids, dtype=carry.dtype), eos]
    flat = np.concatenate(pieces)
    whole = flat.size // seq_len * seq_len
    return flat[:whole].reshape(-1, seq_len), flat[whole:]


def pack_split(
    texts: Iterable[str],
    tokenizer_dir: Path,
    out_dir: Path,
    cfg: PackConfig,
    total_docs: int | None = None,
    desc: str = "pack",
) -> PackStats:
    """Write ``texts`` as packed ``cfg.seq_len``-token samples into MDS shards in ``out_dir``."""
    start = time.perf_counter()
    tokenizer = without_length_limits(Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")))
    tokenizer.encode_special_tokens = True  # "<|endoftext|>" in a text is text: EOS is ours
    dtype = np.uint16 if tokenizer.get_vocab_size() <= 2**16 else np.uint32
    eos = np.array([eos_id(tokenizer_dir)], dtype=dtype)
    stats = PackStats(dtype=np.dtype(dtype).name)
    carry = np.empty(0, dtype=dtype)
    with (
        MDSWriter(
            out=str(out_dir),
            columns={"tokens": f"ndarray:{stats.dtype}:{cfg.seq_len}"},
            compression=cfg.compression,
            hashes=list(cfg.hashes),
            size_limit=cfg.size_limit,
            progress_bar=False,
        ) as writer,
        tqdm(total=total_docs, desc=desc, unit="doc", disable=None) as bar,
        ThreadPoolExecutor(1, thread_name_prefix="tokenize") as pool,
    ):
        for encodings, n_docs in _encoded(pool, tokenizer, texts, cfg.batch_docs):
            rows, rest = _cut(carry, encodings, eos, cfg.seq_len)
            stats.tokens += rows.size + rest.size - carry.size
            for row in rows:
                writer.write({"tokens": row})
            carry = rest
            stats.samples += len(rows)
            stats.documents += n_docs
            bar.update(n_docs)
    stats.dropped_tail_tokens = int(carry.size)
    stats.seconds = round(time.perf_counter() - start, 3)
    log.info(
        "%s: %d documents, %d tokens, %d samples",
        desc,
        stats.documents,
        stats.tokens,
        stats.samples,
    )
    return stats
