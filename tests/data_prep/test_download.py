"""The NLM download command against a loopback HTTP server serving fixture files."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from data_prep.document import PrepError
from data_prep.download import download, list_remote, main

SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "data_prep"
    / "samples"
    / "pubmed"
    / "medline16n0902.xml.gz"
)


class Handler(SimpleHTTPRequestHandler):
    """Serves a folder, honours ``Range: bytes=N-`` unless ``ranges`` is off, counts requests."""

    requests: Counter[str]
    ranges = True

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.requests[self.path] += 1
        path = Path(self.translate_path(self.path))
        header = self.headers.get("Range")
        if not (self.ranges and header and path.is_file()):
            return super().do_GET()
        start = int(header.removeprefix("bytes=").rstrip("-"))
        data = path.read_bytes()
        if start >= len(data):
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, type[Handler]]]:
    root = tmp_path / "served"
    root.mkdir()
    for name, data in {
        "pubmed25n0001.xml.gz": SAMPLE.read_bytes(),
        "pubmed25n0002.xml.gz": b"x" * 300_000,
    }.items():
        (root / name).write_bytes(data)
        (root / f"{name}.md5").write_text(f"MD5({name})= {hashlib.md5(data).hexdigest()}\n")
    (root / "README.txt").write_text("not a data file")
    handler = type("H", (Handler,), {"requests": Counter(), "ranges": True})
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
        PrepError, match=r"pubmed25n0002\.xml\.gz: could not download a copy matching md5"
    ):
        download(url, tmp_path / "dest", pattern="0002", retries=2)
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
