"""Streaming readers, one per corpus kind, and the expansion of source globs into files.

A reader is a module-level generator ``reader(path, source_config, ctx)`` of documents; it runs in
a worker process, one file at a time.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from data_prep.config import SourceConfig
from data_prep.document import Document, PrepError, ReadContext
from data_prep.sources.jsonl import read_jsonl, read_pile
from data_prep.sources.medline import read_medline
from data_prep.sources.pmc import read_pmc

Reader = Callable[[Path, SourceConfig, ReadContext], Iterator[Document]]

READERS: dict[str, Reader] = {
    "medline": read_medline,
    "pmc": read_pmc,
    "pile": read_pile,
    "jsonl": read_jsonl,
}


def expand_sources(sources: list[SourceConfig]) -> list[tuple[SourceConfig, Path]]:
    """Every file each source's ``path`` glob matches (``**`` recurses), in config order then
    sorted path order; a glob that matches no file is a configuration error."""
    files: list[tuple[SourceConfig, Path]] = []
    for i, source in enumerate(sources):
        pattern = os.path.expanduser(source.path)
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not matches:
            raise PrepError(f"sources[{i}] ({source.kind}): path {source.path!r} matches no file")
        files.extend((source, Path(match)) for match in matches)
    return files
