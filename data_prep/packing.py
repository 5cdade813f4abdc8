"""Tokenize, append EOS after each document, concatenate, cut into fixed-length MDS samples.

The output is the format llm-foundry's ``text`` dataloader reads: one ``tokens`` column
(``ndarray:uint16:<seq_len>`` when the vocabulary fits in 16 bits), compressed and hashed shards.
Tokenization runs in batches through the Rust tokenizer, which uses every core and releases
the GIL: the next batch is tokenized in a background thread while this one is cut and written
and the input after it is read, so reading, writing and compressing overlap tokenization.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from streaming import MDSWriter
from tokenizers import Tokenizer
from tqdm import tqdm

from data_prep.config import PackConfig
from data_prep.tokenizer import eos_id

log = logging.getLogger(__name__)


@dataclass
class PackStats:
    documents: int = 0
    tokens: int = 0  # EOS included, dropped tail included
    samples: int = 0
    dropped_tail_tokens: int = 0
    dtype: str = "uint16"
    seconds: float = 0.0


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(texts)
    while batch := list(islice(it, size)):
        yield batch


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
    tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    eos = eos_id(tokenizer_dir)
    dtype = np.uint16 if tokenizer.get_vocab_size() <= 2**16 else np.uint32
    stats = PackStats(dtype=np.dtype(dtype).name)
    seq_len = cfg.seq_len
    carry = np.empty(0, dtype=dtype)
    columns = {"tokens": f"ndarray:{stats.dtype}:{seq_len}"}
    with (
        MDSWriter(
            out=str(out_dir),
            columns=columns,
            compression=cfg.compression,
            hashes=list(cfg.hashes),
            size_limit=cfg.size_limit,
            progress_bar=False,
        ) as writer,
        tqdm(total=total_docs, desc=desc, unit="doc", disable=None) as bar,
        ThreadPoolExecutor(1, thread_name_prefix="tokenize") as pool,
    ):

        def write(encoded: Future[Any], n_docs: int) -> None:
            nonlocal carry
            pieces = [carry]
            for enc in encoded.result():
                pieces.append(np.asarray(enc.ids, dtype=dtype))
                pieces.append(np.array([eos], dtype=dtype))
            flat = np.concatenate(pieces)
            stats.tokens += flat.size - carry.size
            n_samples = flat.size // seq_len
            for row in flat[: n_samples * seq_len].reshape(n_samples, seq_len):
                writer.write({"tokens": row})
            carry = flat[n_samples * seq_len :]
            stats.samples += n_samples
            stats.documents += n_docs
            bar.update(n_docs)

        in_flight: tuple[Future[Any], int] | None = None  # one batch: memory stays bounded
        for batch in _batches(texts, cfg.batch_docs):
            encoded = pool.submit(tokenizer.encode_batch, batch, add_special_tokens=False)
            if in_flight is not None:
                write(*in_flight)
            in_flight = (encoded, len(batch))
        if in_flight is not None:
            write(*in_flight)
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
