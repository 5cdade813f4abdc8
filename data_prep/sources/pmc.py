"""PMC full text (JATS XML, single articles or ``.tar.gz`` bundles streamed member by member):
title, abstract and body as prose, a paragraph or heading per line; tables, figures, formulas,
supplements and references are dropped and counted in ``ctx.dropped``.
"""

from __future__ import annotations

import gzip
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from data_prep.cleaning import language_code
from data_prep.config import SourceConfig
from data_prep.document import Document, ReadContext
from data_prep.files import file_label
from data_prep.sources.opening import corrupt_file_guard, open_binary, report_malformed_xml

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_MATHML = "{http://www.w3.org/1998/Math/MathML}math"
# Elements removed with all their content, and the ``ctx.dropped`` counter each one adds to.
_DROPPED = {
    "table-wrap": "table",
    "table-wrap-group": "table",
    "fig": "figure",
    "fig-group": "figure",
    "disp-formula": "formula",
    "disp-formula-group": "formula",
    "inline-formula": "formula",
    "tex-math": "formula",
    _MATHML: "formula",
    "supplementary-material": "supplementary",
    "ref-list": "reference",  # counted per ``ref``
}
# Block elements that carry no prose of their own.
_IGNORED_BLOCKS = {"label", "caption", "graphic", "media", "object-id", "alternatives"}


def read_pmc(path: Path, cfg: SourceConfig, ctx: ReadContext) -> Iterator[Document]:
    """One ``pmc:PMC<n>`` document per article of ``path`` (an article or a bundle; an article
    without a PMC id is named by its path, ``<bundle>:<member>`` in a bundle); articles
    without text are counted as ``no_text``. Under ``on_error: skip``, a malformed article of a
    bundle is skipped and the next one read."""
    if path.name.endswith((".tar.gz", ".tgz")):
        yield from _read_bundle(path, ctx)
        return
    data = None  # stays None when the file is truncated (reported, then skipped)
    with open_binary(path) as stream, corrupt_file_guard(path, ctx):
        data = stream.read()
    if data is not None:
        yield from _articles(data, str(path), ctx, file_label(path))


def _read_bundle(path: Path, ctx: ReadContext) -> Iterator[Document]:
    """Articles of a ``.tar.gz`` bundle, read in one forward pass. The gzip stream is read to
    its end, which :mod:`gzip` checks (``tarfile``'s own ``r|gz`` does not): a bundle cut just
    after an article is reported as truncated, not read as a shorter bundle."""
    with (
        corrupt_file_guard(path, ctx),
        gzip.open(path, "rb") as unzipped,
        tarfile.open(fileobj=unzipped, mode="r|") as bundle,
    ):
        for member in bundle:
            if not member.isfile() or not member.name.endswith((".nxml", ".xml")):
                continue
            stream = bundle.extractfile(member)
            assert stream is not None  # a regular file always has a stream
            where = f"{path}:{member.name}"
            yield from _articles(stream.read(), where, ctx, f"{file_label(path)}:{member.name}")
        while unzipped.read(1 << 16):  # the tar's padding: EOFError if the gzip stream is cut
            pass


def _articles(data: bytes, where: str, ctx: ReadContext, label: str) -> Iterator[Document]:
    """The documents of one XML file: an ``article``, or a ``pmc-articleset`` of them (``label``
    names one without a PMC id)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        report_malformed_xml(where, exc, ctx)
        return
    articles = [root] if root.tag == "article" else root.findall("article")
    if not articles:
        ctx.bad(where, f"no <article> element (root is <{root.tag}>; not JATS?)")
    for article in articles:
        doc = _article(article, where, ctx, label)
        if doc is not None:
            yield doc


def _article(article: ET.Element, where: str, ctx: ReadContext, label: str) -> Document | None:
    """The document of one JATS ``article``, or None (counted) when it has no text."""
    front = article.find("front/article-meta")
    if front is None:
        ctx.bad(where, "<article> without <front>/<article-meta>")
        return None
    dropped: Counter[str] = Counter()
    title = _inline_text(front.find("title-group/article-title"), dropped)
    abstract = [
        block
        for elem in front.iterfind("abstract")
        if elem.get("abstract-type") != "graphical"
        for block in _blocks(elem, dropped)
    ]
    body = _blocks(article.find("body"), dropped) + _blocks(article.find("floats-group"), dropped)
    ids = {
        elem.get("pub-id-type"): (elem.text or "").strip() for elem in front.iterfind("article-id")
    }
    pmcid = ids.get("pmc") or ids.get("pmcid")
    if pmcid:
        pmcid = pmcid.upper() if pmcid.upper().startswith("PMC") else f"PMC{pmcid}"
    doc_id = f"pmc:{pmcid}" if pmcid else label
    if not abstract and not body:
        ctx.skipped["no_text"] += 1
        ctx.left_out.append(doc_id)  # a version without text still supersedes the one before
        return None
    _blocks(article.find("back"), dropped)  # back matter is not kept; its references are counted
    ctx.dropped.update(dropped)
    text = "\n\n".join(part for part in (title, "\n".join(abstract), "\n".join(body)) if part)
    language = language_code(article.get(_XML_LANG) or "en")  # JATS's default is English
    meta = {"language": language, "title": title}
    if pmcid:
        meta["pmcid"] = pmcid
    if ids.get("pmid"):
        meta["pmid"] = ids["pmid"]
    return Document(id=doc_id, source=ctx.source, text=text, meta=meta)


def _blocks(elem: ET.Element | None, dropped: Counter[str]) -> list[str]:
    """Paragraphs (``p``) under ``elem`` in document order, each container's ``title`` first
    unless its section keeps no text (e.g. "Supplementary Material")."""
    if elem is None:
        return []
    heading = ""
    blocks: list[str] = []
    for child in elem:
        tag = child.tag
        if tag in _DROPPED:
            _count_dropped(child, dropped)
        elif tag == "title":
            heading = _inline_text(child, dropped)
        elif tag == "p":
            text = _inline_text(child, dropped)
            if text:
                blocks.append(text)
        elif tag not in _IGNORED_BLOCKS and isinstance(tag, str):
            blocks.extend(_blocks(child, dropped))  # sec, list, boxed-text, disp-quote...
    return [heading, *blocks] if heading and blocks else blocks


def _inline_text(elem: ET.Element | None, dropped: Counter[str]) -> str:
    """Text of ``elem`` with inline markup kept (italic, xref...), whitespace collapsed."""
    if elem is None:
        return ""
    parts: list[str] = []
    _collect_inline(elem, dropped, parts)
    return " ".join("".join(parts).split())


def _collect_inline(elem: ET.Element, dropped: Counter[str], parts: list[str]) -> None:
    parts.append(elem.text or "")
    for child in elem:
        if child.tag in _DROPPED:
            _count_dropped(child, dropped)
            parts.append(" ")  # "is<disp-formula/>with" must not read "iswith"
        elif isinstance(child.tag, str):  # not a comment or processing instruction
            _collect_inline(child, dropped, parts)
        parts.append(child.tail or "")


def _count_dropped(elem: ET.Element, dropped: Counter[str]) -> None:
    dropped[_DROPPED[elem.tag]] += sum(1 for _ in elem.iter("ref")) if elem.tag == "ref-list" else 1
