"""Fetch NLM source files (PubMed baseline/update files, PMC OA bundles), resumable and md5-verified.

Usage::

    python -m data_prep download pubmed-baseline data/pubmed [--limit 2] [--pattern REGEX]
    python -m data_prep download pmc-oa-comm data/pmc --pattern 'PMC000'
    python -m data_prep download pubmed-baseline data/x --base-url http://127.0.0.1:8000/  # a mirror

A file takes its final name only once whole (the ``.md5`` NLM publishes beside it, else its
stated size and gzip's CRC); a rerun skips complete files and continues partial ones (HTTP
Range). Every failure is one line, exit 2. Reference: docs/data-prep.md.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from tqdm import tqdm

from data_prep.document import PrepError
from data_prep.stages import file_digest

log = logging.getLogger(__name__)

NLM = "https://ftp.ncbi.nlm.nih.gov"
PRESETS: dict[str, tuple[str, str]] = {  # name -> (base URL, file-name regex)
    "pubmed-baseline": (f"{NLM}/pubmed/baseline/", r"^pubmed\d+n\d+\.xml\.gz$"),
    "pubmed-updates": (f"{NLM}/pubmed/updatefiles/", r"^pubmed\d+n\d+\.xml\.gz$"),
    "pmc-oa-comm": (f"{NLM}/pub/pmc/oa_bulk/oa_comm/xml/", r"\.tar\.gz$"),
    "pmc-oa-noncomm": (f"{NLM}/pub/pmc/oa_bulk/oa_noncomm/xml/", r"\.tar\.gz$"),
}
CHUNK = 1 << 20


class ShortDownload(Exception):
    """The connection ended before the size the server stated."""


# What a dropped, refused, timed-out or failed HTTP exchange raises (HTTPError is a URLError).
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)
RETRIED = (*NETWORK_ERRORS, ShortDownload)


@dataclass
class DownloadReport:
    downloaded: list[str] = field(default_factory=list)
    skipped_complete: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def _get(url: str, timeout: float, headers: dict[str, str] | None = None) -> Any:
    return urllib.request.urlopen(
        urllib.request.Request(url, headers=headers or {}), timeout=timeout
    )


def _why(exc: BaseException) -> str:
    """One line for a network failure (HTTP status, refused connection, timeout, short read)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed after {len(exc.partial)} more bytes"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def list_remote(base_url: str, timeout: float = 60) -> list[str]:
    """File names linked from the directory listing at ``base_url``."""
    try:
        with _get(base_url, timeout) as response:
            parser = _Links()
            parser.feed(response.read().decode("utf-8", "replace"))
    except NETWORK_ERRORS as exc:
        raise PrepError(f"{base_url}: cannot list ({_why(exc)})") from None
    names = {h.rsplit("/", 1)[-1] for h in parser.hrefs if not h.endswith("/") and "?" not in h}
    return sorted(n for n in names if n)


def _remote_md5(url: str, timeout: float, retries: int, wait: float) -> str | None:
    """The checksum NLM publishes at ``url`` (``MD5(name)= hex`` or ``hex  name``); None on a
    404, any other failure retried, then one line."""
    for attempt in range(1, retries + 1):
        if attempt > 1:
            time.sleep(wait * (attempt - 1))
        try:
            with _get(url, timeout) as response:
                text = response.read().decode("ascii", "replace")
            match = re.search(r"\b([0-9a-fA-F]{32})\b", text)
            return match.group(1).lower() if match else None
        except NETWORK_ERRORS as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code == 404:
                return None
            failure = _why(exc)
        log.warning("%s: attempt %d/%d failed (%s)", url, attempt, retries, failure)
    raise PrepError(f"{url}: cannot fetch the checksum ({failure})")


def _flaw(path: Path, name: str, expected: str | None) -> str | None:
    """Why ``path`` is not a whole copy of ``name`` (None if it is): its md5 against ``expected``,
    else for a ``.gz`` gzip's own CRC check (other files are trusted)."""
    if expected is not None:
        actual = file_digest(path, "md5")
        return None if actual == expected else f"md5 {actual}, expected {expected}"
    if name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as stream:
                while stream.read(CHUNK):
                    pass
        except (OSError, EOFError, zlib.error):
            return "not a complete gzip file"
    return None


def _expected_size(response: Any, offset: int) -> int | None:
    """The whole file's size as the server states it (Content-Range, else Content-Length)."""
    content_range = response.headers.get("Content-Range", "")
    if response.status == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    length = response.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return int(length) + (offset if response.status == 206 else 0)


def _fetch_part(url: str, part: Path, timeout: float) -> None:
    """Download ``url`` into ``part``, continuing from the bytes it holds when the server allows;
    :class:`ShortDownload` when the connection ends before the size the server stated."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = _get(url, timeout, headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # the part already holds the whole file
            return
        raise
    with response:
        resumed = response.status == 206
        total = _expected_size(response, offset)
        with (
            open(part, "ab" if resumed else "wb") as out,
            tqdm(
                total=total,
                initial=offset if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=part.name[: -len(".part")],
                leave=False,
                disable=None,
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise ShortDownload(f"got {size} of {total} bytes")


def download_file(
    base_url: str,
    name: str,
    dest: Path,
    require_md5: bool,
    retries: int,
    timeout: float,
    wait: float = 2.0,
) -> tuple[bool, bool]:
    """Fetch one file in ``retries`` attempts, each continuing from the bytes already written;
    returns (downloaded, md5-verified)."""
    url, final, part = urljoin(base_url, name), dest / name, dest / f"{name}.part"
    expected = _remote_md5(url + ".md5", timeout, retries, wait)
    if expected is None and require_md5:
        raise PrepError(f"{url}: no .md5 published beside it (--require-md5)")
    if final.exists() and _flaw(final, name, expected) is None:
        return False, expected is not None
    failure: str | None = "no attempt"
    for attempt in range(1, retries + 1):
        if attempt > 1:
            time.sleep(wait * (attempt - 1))
        try:
            _fetch_part(url, part, timeout)
        except RETRIED as exc:
            failure = _why(exc)
            log.warning("%s: attempt %d/%d failed (%s)", url, attempt, retries, failure)
            continue
        failure = _flaw(part, name, expected)
        if failure is None:
            if expected is not None:
                (dest / f"{name}.md5").write_text(f"MD5({name})= {expected}\n")
            os.replace(part, final)
            return True, expected is not None
        log.warning("%s: %s; downloading again", url, failure)
        part.unlink()
    resume = f"; a rerun continues from {part}" if part.exists() else ""
    raise PrepError(
        f"{url}: could not download a complete copy in {retries} attempts ({failure}){resume}"
    )


def download(
    base_url: str,
    dest: Path,
    pattern: str | None = None,
    limit: int | None = None,
    require_md5: bool = False,
    retries: int = 3,
    timeout: float = 60,
    wait: float = 2.0,
) -> DownloadReport:
    """Download every file of ``base_url`` whose name matches ``pattern`` (at most ``limit``)."""
    if limit is not None and limit < 1:
        raise PrepError(f"--limit: must be at least 1, got {limit}")
    if retries < 1:
        raise PrepError(f"--retries: must be at least 1, got {retries}")
    try:
        regex = re.compile(pattern or "")
    except re.error as exc:
        raise PrepError(f"--pattern: {pattern!r} is not a regular expression ({exc})") from None
    listed = list_remote(base_url, timeout)
    names = [n for n in listed if not n.endswith(".md5") and regex.search(n)][:limit]
    if not names:
        raise PrepError(f"{base_url}: no file matches {pattern!r}")
    dest.mkdir(parents=True, exist_ok=True)
    report = DownloadReport()
    for name in tqdm(names, desc="download", unit="file", disable=None):
        fetched, verified = download_file(base_url, name, dest, require_md5, retries, timeout, wait)
        (report.downloaded if fetched else report.skipped_complete).append(name)
        if not verified:
            log.warning("%s: no md5 published; kept after its size and gzip checks", name)
            report.unverified.append(name)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep download",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("preset", choices=sorted(PRESETS))
    parser.add_argument("dest", type=Path)
    parser.add_argument("--base-url", help="a mirror of the preset's folder")
    parser.add_argument("--pattern", help="regex on file names (default: the preset's)")
    parser.add_argument("--limit", type=int, help="at most this many files (>= 1)")
    parser.add_argument("--retries", type=int, default=3, help="attempts per file (>= 1)")
    parser.add_argument("--require-md5", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    preset_url, default_pattern = PRESETS[args.preset]
    base_url = args.base_url or preset_url
    try:
        report = download(
            base_url if base_url.endswith("/") else base_url + "/",
            args.dest,
            args.pattern or default_pattern,
            args.limit,
            args.require_md5,
            args.retries,
        )
    except PrepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the destination: not writable, disk full
        print(f"error: {exc.filename or args.dest}: {exc.strerror}", file=sys.stderr)
        return 2
    print(
        f"{args.dest}: {len(report.downloaded)} downloaded, {len(report.skipped_complete)} already complete, "
        f"{len(report.unverified)} without md5"
    )
    return 0
