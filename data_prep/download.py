"""Fetch NLM source files (PubMed baseline/update files, PMC OA bundles), resumable and md5-verified.

Usage::

    python -m data_prep download pubmed-baseline data/pubmed [--limit 2] [--pattern REGEX]
    python -m data_prep download pubmed-updates data/pubmed-updates
    python -m data_prep download pmc-oa-comm data/pmc --pattern 'PMC000'
    python -m data_prep download pubmed-baseline data/x --base-url http://127.0.0.1:8000/  # a mirror

NLM publishes ``<file>.md5`` beside each file (``MD5(<file>)= <hex>``). A file is downloaded into
``<file>.part`` (resumed with an HTTP Range request after an interruption), checked against its
md5 and only then renamed; a rerun skips files that are already complete and verified.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

from tqdm import tqdm

from data_prep.document import PrepError

log = logging.getLogger(__name__)

NLM = "https://ftp.ncbi.nlm.nih.gov"
PRESETS: dict[str, tuple[str, str]] = {  # name -> (base URL, file-name regex)
    "pubmed-baseline": (f"{NLM}/pubmed/baseline/", r"^pubmed\d+n\d+\.xml\.gz$"),
    "pubmed-updates": (f"{NLM}/pubmed/updatefiles/", r"^pubmed\d+n\d+\.xml\.gz$"),
    "pmc-oa-comm": (f"{NLM}/pub/pmc/oa_bulk/oa_comm/xml/", r"\.tar\.gz$"),
    "pmc-oa-noncomm": (f"{NLM}/pub/pmc/oa_bulk/oa_noncomm/xml/", r"\.tar\.gz$"),
}
CHUNK = 1 << 20


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


def _get(url: str, timeout: float, headers: dict[str, str] | None = None):
    return urllib.request.urlopen(
        urllib.request.Request(url, headers=headers or {}), timeout=timeout
    )


def list_remote(base_url: str, timeout: float = 60) -> list[str]:
    """File names linked from the directory listing at ``base_url``."""
    try:
        with _get(base_url, timeout) as response:
            parser = _Links()
            parser.feed(response.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as exc:
        raise PrepError(f"{base_url}: cannot list ({exc})") from None
    names = {h.rsplit("/", 1)[-1] for h in parser.hrefs if not h.endswith("/") and "?" not in h}
    return sorted(n for n in names if n)


def _remote_md5(url: str, timeout: float) -> str | None:
    """The checksum NLM publishes at ``url`` (``MD5(name)= hex`` or ``hex  name``), if any."""
    try:
        with _get(url, timeout) as response:
            text = response.read().decode("ascii", "replace")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    match = re.search(r"\b([0-9a-fA-F]{32})\b", text)
    return match.group(1).lower() if match else None


def _md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_part(url: str, part: Path, timeout: float) -> None:
    """Download ``url`` into ``part``, resuming from its current size when the server allows."""
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
        total = int(response.headers.get("Content-Length", 0)) + (offset if resumed else 0)
        with (
            open(part, "ab" if resumed else "wb") as out,
            tqdm(
                total=total or None,
                initial=offset if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=part.name[: -len(".part")],
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def download_file(
    base_url: str, name: str, dest: Path, require_md5: bool, retries: int, timeout: float
) -> tuple[bool, bool]:
    """Fetch one file; returns (downloaded, verified). Raises PrepError when it cannot be verified."""
    url, final, part = urljoin(base_url, name), dest / name, dest / f"{name}.part"
    expected = _remote_md5(url + ".md5", timeout)
    if expected is None and require_md5:
        raise PrepError(f"{url}: no .md5 published beside it (--require-md5)")
    if final.exists() and (expected is None or _md5_of(final) == expected):
        return False, expected is not None
    for attempt in range(1, retries + 1):
        try:
            _fetch_part(url, part, timeout)
        except (urllib.error.URLError, OSError) as exc:
            log.warning("%s: attempt %d/%d failed (%s)", url, attempt, retries, exc)
            continue
        actual = _md5_of(part)
        if expected is None or actual == expected:
            if expected is not None:
                (dest / f"{name}.md5").write_text(f"MD5({name})= {expected}\n")
            os.replace(part, final)
            return True, expected is not None
        log.warning("%s: md5 %s, expected %s; downloading again", url, actual, expected)
        part.unlink()
    part.unlink(missing_ok=True)
    raise PrepError(
        f"{url}: could not download a copy matching md5 {expected} after {retries} attempts"
    )


def download(
    base_url: str,
    dest: Path,
    pattern: str | None = None,
    limit: int | None = None,
    require_md5: bool = False,
    retries: int = 3,
    timeout: float = 60,
) -> DownloadReport:
    """Download every file of ``base_url`` whose name matches ``pattern`` (at most ``limit``)."""
    names = [n for n in list_remote(base_url, timeout) if not n.endswith(".md5")]
    if pattern:
        names = [n for n in names if re.search(pattern, n)]
    names = names[:limit] if limit is not None else names
    if not names:
        raise PrepError(f"{base_url}: no file matches {pattern!r}")
    dest.mkdir(parents=True, exist_ok=True)
    report = DownloadReport()
    for name in tqdm(names, desc="download", unit="file"):
        fetched, verified = download_file(base_url, name, dest, require_md5, retries, timeout)
        (report.downloaded if fetched else report.skipped_complete).append(name)
        if not verified:
            log.warning("%s: no md5 published; kept unverified", name)
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
    parser.add_argument("--limit", type=int)
    parser.add_argument("--require-md5", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    base_url, default_pattern = PRESETS[args.preset]
    base_url = args.base_url or base_url
    try:
        report = download(
            base_url if base_url.endswith("/") else base_url + "/",
            args.dest,
            args.pattern or default_pattern,
            args.limit,
            args.require_md5,
        )
    except PrepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{args.dest}: {len(report.downloaded)} downloaded, {len(report.skipped_complete)} already complete, "
        f"{len(report.unverified)} without md5"
    )
    return 0
