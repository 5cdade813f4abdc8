"""MEDLINE/PubMed XML (``MedlineCitationSet`` up to 2016, ``PubmedArticleSet``): one document
per citation with an abstract; ``DeleteCitation`` PMIDs go to ``ctx.deleted``. Parsed
incrementally, each record cleared once read, so memory stays flat however large the file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from data_prep.config import SourceConfig
from data_prep.document import Document, ReadContext
from data_prep.sources.opening import corrupt_file_guard, open_binary, report_malformed_xml

ROOTS = ("MedlineCitationSet", "PubmedArticleSet")


def read_medline(path: Path, cfg: SourceConfig, ctx: ReadContext) -> Iterator[Document]:
    """Yield a ``pmid:<PMID>`` document for every citation of ``path`` that has an abstract
    (the others are counted as ``no_abstract``); malformed XML ends the file."""
    with open_binary(path) as stream, corrupt_file_guard(path, ctx):
        try:
            yield from _citations(stream, path, ctx)
        except ET.ParseError as exc:
            report_malformed_xml(str(path), exc, ctx)


def _citations(stream: BinaryIO, path: Path, ctx: ReadContext) -> Iterator[Document]:
    """Parse ``stream`` incrementally, clearing each record once read; another root (a PMC
    article, an HTML error page saved under a MEDLINE name) is bad input."""
    root: ET.Element | None = None
    depth = 0
    for event, elem in ET.iterparse(stream, events=("start", "end")):
        if event == "start":
            if root is None:
                root = elem
                if elem.tag not in ROOTS:
                    ctx.bad(
                        str(path),
                        f"not a MEDLINE/PubMed file: root element <{elem.tag}>, "
                        f"expected <{'> or <'.join(ROOTS)}>",
                    )
                    return
            depth += 1
            continue
        depth -= 1
        if elem.tag == "MedlineCitation":
            doc = _citation(elem, path, ctx)
            if doc is not None:
                yield doc
        elif elem.tag == "DeleteCitation":
            ctx.deleted.extend(
                f"pmid:{pmid.text.strip()}" for pmid in elem.iter("PMID") if pmid.text
            )
        if depth == 1 and root is not None:
            root.clear()  # drop the finished record: memory must not grow with the file


def _citation(citation: ET.Element, path: Path, ctx: ReadContext) -> Document | None:
    """The document of one ``MedlineCitation``, or None (counted) when it has no abstract."""
    pmid = (citation.findtext("PMID") or "").strip()
    article = citation.find("Article")
    if article is None:
        _left_out(pmid, ctx)
        return None
    article_language = (article.findtext("Language") or "").strip()
    abstract = _abstract(article.find("Abstract"))
    # NLM puts English abstracts in <Abstract> whatever the article's language (an Italian
    # article's is English), and the others in <OtherAbstract Language=...>
    language = "eng" if abstract else article_language
    if not abstract:  # fall back to the first OtherAbstract with text, in its own language
        for other in citation.iterfind("OtherAbstract"):
            abstract = _abstract(other)
            if abstract:
                language = other.get("Language") or language
                break
    if not abstract:
        _left_out(pmid, ctx)
        return None
    if not pmid:
        ctx.bad(str(path), "MedlineCitation without PMID")
        return None
    title = _inline_text(article.find("ArticleTitle"))
    meta = {"pmid": pmid, "title": title}
    if language:
        meta["language"] = language
    if article_language and article_language != language:
        meta["article_language"] = article_language
    text = f"{title}\n\n{abstract}" if title else abstract
    return Document(id=f"pmid:{pmid}", source=ctx.source, text=text, meta=meta)


def _left_out(pmid: str, ctx: ReadContext) -> None:
    """Count a citation without an abstract; its PMID supersedes the versions before it."""
    ctx.skipped["no_abstract"] += 1
    if pmid:
        ctx.left_out.append(f"pmid:{pmid}")


def _abstract(abstract: ET.Element | None) -> str:
    """Paragraphs of an ``Abstract``/``OtherAbstract``; a labelled section reads "LABEL: text"."""
    if abstract is None:
        return ""
    paragraphs = []
    for part in abstract.iterfind("AbstractText"):
        text = _inline_text(part)
        if not text:
            continue
        label = (part.get("Label") or "").strip()
        if label and label.upper() != "UNLABELLED":  # NLM's mark for a section without label
            text = f"{label}: {text}"
        paragraphs.append(text)
    return "\n".join(paragraphs)


def _inline_text(elem: ET.Element | None) -> str:
    """All text of ``elem`` including inline markup (``<i>``, ``<sup>``...), whitespace collapsed."""
    if elem is None:
        return ""
    return " ".join("".join(elem.itertext()).split())
