"""Open corpus files as byte streams, decompressing ``.gz`` and ``.zst`` on the fly; what cannot
be decoded (truncated archive, not UTF-8, malformed XML) goes through :meth:`ReadContext.bad`.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import ParseError

import zstandard

from data_prep.document import ReadContext

# What a truncated or corrupt compressed file raises while it is read.
CORRUPT_FILE_ERRORS = (
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    zstandard.ZstdError,
    tarfile.ReadError,
)
_CHUNK = 1 << 16


class _ZstdReader(io.RawIOBase):
    """Decompress a sequence of zstd frames in chunks.

    ``zstandard``'s own ``stream_reader`` ends quietly on a truncated file; this one raises
    :class:`EOFError` when the file ends inside a frame, as :mod:`gzip` does.
    """

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame: zstandard.ZstdDecompressionObj | None = None
        self._out = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._out:
            data = self._raw.read(_CHUNK)
            if not data:
                if self._frame is not None and not self._frame.eof:
                    raise EOFError("zstd file ended before the end of its last frame")
                return 0
            out = []
            while data:  # a chunk may end one frame and start the next
                if self._frame is None or self._frame.eof:
                    self._frame = self._dctx.decompressobj()
                out.append(self._frame.decompress(data))
                data = self._frame.unused_data if self._frame.eof else b""
            self._out = memoryview(b"".join(out))
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_binary(path: Path) -> BinaryIO:
    """``path`` as a readable binary stream, decompressed if it ends in ``.gz`` or ``.zst``."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.name.endswith(".zst"):
        return io.BufferedReader(_ZstdReader(open(path, "rb")), _CHUNK)
    return open(path, "rb", buffering=_CHUNK)


@contextmanager
def corrupt_file_guard(where: Path | str, ctx: ReadContext) -> Iterator[None]:
    """Turn a truncated or corrupt compressed stream into ``ctx.bad``; the rest is skipped."""
    try:
        yield
    except CORRUPT_FILE_ERRORS as exc:
        ctx.bad(str(where), f"truncated or corrupt file ({type(exc).__name__}: {exc})")


def report_malformed_xml(where: str, exc: ParseError, ctx: ReadContext) -> None:
    """Report an XML parse error at ``where:<line>`` through ``ctx.bad``."""
    line, column = exc.position
    reason = str(exc).split(": line ")[0]
    ctx.bad(f"{where}:{line}", f"malformed XML ({reason}, column {column})")


def text_lines(path: Path, ctx: ReadContext) -> Iterator[tuple[int, str]]:
    """``(line number from 1, text without its ending)`` of each line of ``path``, strict UTF-8;
    a line that is not UTF-8 is bad input, a truncated compressed file ends the iteration."""
    with open_binary(path) as stream, corrupt_file_guard(path, ctx):
        for lineno, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                ctx.bad(f"{path}:{lineno}", f"not UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            yield lineno, line.rstrip("\r\n")
