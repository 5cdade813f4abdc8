"""The NLM download command against a loopback HTTP server serving fixture files."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from data_prep.document import PrepError
from data_prep.download import download, download_file, list_remote, main

SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "data_prep"
    / "samples"
    / "pubmed"
    / "medline16n0902.xml.gz"
)


class Handler(SimpleHTTPRequestHandler):
    """Serves a folder; honours ``Range: bytes=N-`` unless ``ranges`` is off; counts requests.

    Faults on demand: ``drops`` responses of data files end after ``drop_after`` body bytes
    (the stated Content-Length unchanged, as a dropped connection), and ``md5_status`` answers
    every ``.md5`` request with that HTTP status.
    """

    requests: Counter[str]
    range_headers: list[str]
    body_bytes: Counter[str]
    ranges = True
    drops = 0
    drop_after = 0
    md5_status: int | None = None

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        cls = type(self)
        self.requests[self.path] += 1
        if self.path.endswith(".md5") and self.md5_status is not None:
            self.send_error(self.md5_status)
            return
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return super().do_GET()  # the listing, or 404
        data = path.read_bytes()
        header = self.headers.get("Range")
        start = 0
        if header:
            self.range_headers.append(header)
        if self.ranges and header:
            start = int(header.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if cls.drops > 0 and not path.name.endswith(".md5"):
            cls.drops -= 1
            body = body[: self.drop_after]
            self.close_connection = True
        self.body_bytes[self.path] += len(body)
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, type[Handler]]]:
    root = tmp_path / "served"
    root.mkdir()
    for name, data in {
        "pubmed25n0001.xml.gz": SAMPLE.read_bytes(),
        "pubmed25n0002.xml.gz": gzip.compress(b"<MedlineCitationSet/>" * 20_000, mtime=0),
    }.items():
        (root / name).write_bytes(data)
        (root / f"{name}.md5").write_text(f"MD5({name})= {hashlib.md5(data).hexdigest()}\n")
    (root / "README.txt").write_text("not a data file")
    handler = type(
        "H",
        (Handler,),
        {"requests": Counter(), "range_headers": [], "body_bytes": Counter(), "ranges": True},
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root, handler
    httpd.shutdown()


def test_listing_and_verified_download(
    server: tuple[str, Path, type[Handler]], tmp_path: Path
) -> None:
    url, _root, _ = server
    assert "pubmed25n0001.xml.gz" in list_remote(url) and "README.txt" in list_remote(url)
    report = download(url, tmp_path / "dest", pattern=r"\.xml\.gz$")
    assert (
        report.downloaded == ["pubmed25n0001.xml.gz", "pubmed25n0002.xml.gz"]
        and not report.unverified
    )
    assert (tmp_path / "dest" / "pubmed25n0001.xml.gz").read_bytes() == SAMPLE.read_bytes()
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == [
        "pubmed25n0001.xml.gz",
        "pubmed25n0001.xml.gz.md5",
        "pubmed25n0002.xml.gz",
        "pubmed25n0002.xml.gz.md5",
    ]


def test_rerun_downloads_nothing(server: tuple[str, Path, type[Handler]], tmp_path: Path) -> None:
    url, _, handler = server
    download(url, tmp_path, pattern=r"\.xml\.gz$")
    handler.requests.clear()
    report = download(url, tmp_path, pattern=r"\.xml\.gz$")
    assert report.skipped_complete == ["pubmed25n0001.xml.gz", "pubmed25n0002.xml.gz"]
    assert (
        handler.requests["/pubmed25n0001.xml.gz"] == 0
        and handler.requests["/pubmed25n0002.xml.gz"] == 0
    )


@pytest.mark.parametrize("ranges", [True, False])
def test_resume_from_a_partial_file(
    server: tuple[str, Path, type[Handler]], tmp_path: Path, ranges: bool
) -> None:
    url, root, handler = server
    handler.ranges = ranges
    data = (root / "pubmed25n0001.xml.gz").read_bytes()
    (tmp_path / "pubmed25n0001.xml.gz.part").write_bytes(data[:1000])
    download(url, tmp_path, pattern="0001.xml.gz$")
    assert (tmp_path / "pubmed25n0001.xml.gz").read_bytes() == data
    assert not (tmp_path / "pubmed25n0001.xml.gz.part").exists()


def test_corrupt_download_is_never_kept(
    server: tuple[str, Path, type[Handler]], tmp_path: Path
) -> None:
    url, root, _ = server
    (root / "pubmed25n0002.xml.gz").write_bytes(b"y" * 300_000)  # no longer matches its md5
    with pytest.raises(
        PrepError, match=r"pubmed25n0002\.xml\.gz: could not download a complete copy .*md5"
    ):
        download(url, tmp_path / "dest", pattern="0002", retries=2, wait=0)
    assert list((tmp_path / "dest").iterdir()) == []


def test_missing_md5(server: tuple[str, Path, type[Handler]], tmp_path: Path) -> None:
    url, root, _ = server
    (root / "pubmed25n0002.xml.gz.md5").unlink()
    assert download(url, tmp_path / "a", pattern="0002").unverified == ["pubmed25n0002.xml.gz"]
    with pytest.raises(PrepError, match=r"no \.md5 published"):
        download(url, tmp_path / "b", pattern="0002", require_md5=True)
    assert not (tmp_path / "b" / "pubmed25n0002.xml.gz").exists()


def test_cli(
    server: tuple[str, Path, type[Handler]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = server
    assert main(["pubmed-baseline", str(tmp_path), "--base-url", url, "--limit", "1"]) == 0
    assert [p.name for p in tmp_path.glob("*.xml.gz")] == ["pubmed25n0001.xml.gz"]
    assert main(["pubmed-baseline", str(tmp_path), "--base-url", url, "--pattern", "nothing"]) == 2
    assert "no file matches 'nothing'" in capsys.readouterr().err


# --- faults (issue 11): a file takes its final name only when whole; every failure one line --


def test_truncated_download_without_md5_is_never_kept(
    server: tuple[str, Path, type[Handler]], tmp_path: Path
) -> None:
    url, root, handler = server
    (root / "pubmed25n0001.xml.gz.md5").unlink()
    handler.drops, handler.drop_after = 99, 100_000  # every response ends at 100 kB
    with pytest.raises(
        PrepError, match=r"0001\.xml\.gz: could not download a complete copy in 2 attempts"
    ) as error:
        download(url, tmp_path, pattern="0001", retries=2, wait=0)
    assert "\n" not in str(error.value) and "bytes" in str(error.value)
    assert not (tmp_path / "pubmed25n0001.xml.gz").exists()
    assert (tmp_path / "pubmed25n0001.xml.gz.part").stat().st_size == 200_000
    handler.drops = 0  # the connection recovers: the rerun continues from 200 kB
    assert download(url, tmp_path, pattern="0001", wait=0).downloaded == ["pubmed25n0001.xml.gz"]
    assert (tmp_path / "pubmed25n0001.xml.gz").read_bytes() == SAMPLE.read_bytes()
    assert handler.range_headers[-1] == "bytes=200000-"


@pytest.mark.parametrize("md5", [True, False])
def test_a_dropped_connection_continues_with_range_in_the_same_run(
    server: tuple[str, Path, type[Handler]], tmp_path: Path, md5: bool
) -> None:
    url, root, handler = server
    if not md5:
        (root / "pubmed25n0001.xml.gz.md5").unlink()
    handler.drops, handler.drop_after = 2, 150_000
    report = download(url, tmp_path, pattern="0001", retries=3, wait=0)
    assert report.downloaded == ["pubmed25n0001.xml.gz"]
    assert (tmp_path / "pubmed25n0001.xml.gz").read_bytes() == SAMPLE.read_bytes()
    assert handler.range_headers == ["bytes=150000-", "bytes=300000-"]
    assert handler.body_bytes["/pubmed25n0001.xml.gz"] == len(SAMPLE.read_bytes())  # no byte twice


def test_a_corrupt_gzip_without_md5_is_never_kept(
    server: tuple[str, Path, type[Handler]], tmp_path: Path
) -> None:
    url, root, _ = server
    data = bytearray(SAMPLE.read_bytes())
    data[len(data) // 2] ^= 0xFF  # full length, damaged inside
    (root / "pubmed25n0001.xml.gz").write_bytes(bytes(data))
    (root / "pubmed25n0001.xml.gz.md5").unlink()
    with pytest.raises(PrepError, match="not a complete gzip file"):
        download(url, tmp_path / "dest", pattern="0001", retries=2, wait=0)
    assert list((tmp_path / "dest").iterdir()) == []
    (tmp_path / "dest" / "pubmed25n0001.xml.gz").write_bytes(bytes(data))  # an earlier version's
    (root / "pubmed25n0001.xml.gz").write_bytes(SAMPLE.read_bytes())  # the server is fixed
    assert download(url, tmp_path / "dest", pattern="0001", wait=0).downloaded == [
        "pubmed25n0001.xml.gz"
    ]
    assert (tmp_path / "dest" / "pubmed25n0001.xml.gz").read_bytes() == SAMPLE.read_bytes()


@pytest.mark.parametrize("status", [500, 403])
def test_http_failure_on_the_md5_is_one_line(
    server: tuple[str, Path, type[Handler]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    url, _, handler = server
    handler.md5_status = status
    with pytest.raises(
        PrepError, match=rf"0001\.xml\.gz\.md5: cannot fetch the checksum \(HTTP {status} "
    ):
        download(url, tmp_path, pattern="0001", retries=2, wait=0)
    cli = ["pubmed-baseline", str(tmp_path), "--base-url", url, "--limit", "1", "--retries", "1"]
    assert main(cli) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and f"HTTP {status}" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_a_missing_file_and_a_refused_connection_are_one_line(
    server: tuple[str, Path, type[Handler]], tmp_path: Path
) -> None:
    url, root, _ = server
    (root / "pubmed25n0002.xml.gz").unlink()
    (root / "pubmed25n0002.xml.gz.md5").unlink()
    with pytest.raises(PrepError, match=r"0002\.xml\.gz: could not download .*HTTP 404"):
        download_file(url, "pubmed25n0002.xml.gz", tmp_path, False, 2, 5, wait=0)
    with pytest.raises(PrepError, match=r"cannot list \(.*refused"):
        list_remote("http://127.0.0.1:1/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "-1"], "error: --limit: must be at least 1, got -1"),
        (["--limit", "0"], "error: --limit: must be at least 1, got 0"),
        (["--pattern", "pubmed(25"], "error: --pattern: 'pubmed(25' is not a regular expression"),
    ],
)
def test_cli_checks_limit_and_pattern(
    server: tuple[str, Path, type[Handler]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    url, _, handler = server
    assert main(["pubmed-baseline", str(tmp_path / "dest"), "--base-url", url, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)
    assert not (tmp_path / "dest").exists() and not handler.requests
