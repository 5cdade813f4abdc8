"""The streaming corpus readers on the shipped samples, hand-written fixtures and bad input."""

from __future__ import annotations

import gzip
import inspect
import io
import json
import pickle
import re
import tarfile
import tracemalloc
import zlib
from collections import Counter
from pathlib import Path

import pytest
import zstandard

from data_prep.config import SourceConfig
from data_prep.document import Document, PrepError, ReadContext
from data_prep.sources import READERS, expand_sources
from data_prep.sources.jsonl import read_jsonl, read_pile
from data_prep.sources.medline import read_medline
from data_prep.sources.pmc import read_pmc

SAMPLES = Path(__file__).resolve().parents[2] / "data_prep" / "samples"
MEDLINE_SAMPLE = SAMPLES / "pubmed" / "medline16n0902.xml.gz"


def read(
    kind: str, path: Path, on_error: str = "raise", **cfg: object
) -> tuple[list[Document], ReadContext]:
    ctx = ReadContext(source=kind, on_error=on_error)  # type: ignore[arg-type]
    docs = list(READERS[kind](path, SourceConfig(kind=kind, path=str(path), **cfg), ctx))  # type: ignore[arg-type]
    return docs, ctx


# --- MEDLINE -------------------------------------------------------------------------------


def test_medline_sample_counts_match_an_independent_count() -> None:
    # Counted with a regex over `zcat medline16n0902.xml.gz`: 604 MedlineCitation, 526 with a
    # non-empty <Abstract> (none with only OtherAbstract), 1396 AbstractText in them, 1085 with
    # a Label of which 10 are "UNLABELLED"; one DeleteCitation of PMID 26432306.
    docs, ctx = read("medline", MEDLINE_SAMPLE)
    assert len(docs) == 526
    assert ctx.skipped == Counter({"no_abstract": 78})
    assert ctx.deleted == ["pmid:26432306"]
    assert len({d.id for d in docs}) == 526
    assert all(d.id == f"pmid:{d.meta['pmid']}" and d.source == "medline" for d in docs)
    # every <Abstract> is English (NLM's rule); 8 are of Italian articles, and were dropped as
    # Italian by the default languages: [eng]
    assert Counter(d.meta["language"] for d in docs) == {"eng": 526}
    assert Counter(d.meta.get("article_language") for d in docs) == {None: 518, "ita": 8}
    paragraphs = [line for d in docs for line in d.text.split("\n\n", 1)[1].split("\n")]
    assert len(paragraphs) == 1396
    assert sum(bool(re.match(r"[A-Z][A-Z0-9 ,/&()'-]+: ", p)) for p in paragraphs) == 1075
    assert not any(p.startswith("UNLABELLED") for p in paragraphs)
    first = docs[0]
    assert first.id == "pmid:17942999"
    assert first.text.startswith(
        "Neuroplasticity in the processing of pitch dimensions: a multidimensional scaling "
        "analysis of the mismatch negativity.\n\nPURPOSE: An auditory electrophysiological study"
    )
    assert "\nMETHODS: Mismatch negativity (MMN)" in first.text
    assert first.meta["title"].startswith("Neuroplasticity in the processing")


PUBMED_ARTICLE_SET = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">
<PubmedArticleSet>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">111</PMID>
    <Article PubModel="Print">
      <ArticleTitle>Effect of <i>Escherichia coli</i> on CO<sub>2</sub> uptake.</ArticleTitle>
      <Abstract>
        <AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Growth of <i>E. coli</i>
          was measured.</AbstractText>
        <AbstractText Label="RESULTS" NlmCategory="RESULTS">Uptake rose 10<sup>3</sup>-fold.</AbstractText>
        <CopyrightInformation>Copyright 2019 Someone.</CopyrightInformation>
      </Abstract>
      <Language>eng</Language>
    </Article>
    <OtherAbstract Type="Publisher" Language="fre"><AbstractText>Un résumé.</AbstractText></OtherAbstract>
  </MedlineCitation>
  <PubmedData>
    <ReferenceList><Reference><Citation>A cited paper.</Citation></Reference></ReferenceList>
  </PubmedData>
</PubmedArticle>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">222</PMID>
    <Article PubModel="Print"><ArticleTitle>A title alone.</ArticleTitle><Language>ger</Language></Article>
  </MedlineCitation>
</PubmedArticle>
<PubmedArticle>
  <MedlineCitation Status="MEDLINE" Owner="NLM">
    <PMID Version="1">333</PMID>
    <Article PubModel="Print">
      <ArticleTitle>[Translated title].</ArticleTitle>
      <Language>spa</Language>
    </Article>
    <OtherAbstract Type="Publisher" Language="eng"><AbstractText>An English abstract.</AbstractText></OtherAbstract>
  </MedlineCitation>
</PubmedArticle>
<DeleteCitation><PMID Version="1">444</PMID><PMID Version="1">555</PMID></DeleteCitation>
</PubmedArticleSet>
"""


def test_pubmed_article_set_fixture(tmp_path: Path) -> None:
    path = tmp_path / "pubmed19n0001.xml"
    path.write_text(PUBMED_ARTICLE_SET, encoding="utf-8")
    docs, ctx = read("medline", path)
    assert [d.id for d in docs] == ["pmid:111", "pmid:333"]
    first, third = docs
    assert first.text == (
        "Effect of Escherichia coli on CO2 uptake.\n\n"
        "BACKGROUND: Growth of E. coli was measured.\n"
        "RESULTS: Uptake rose 103-fold."
    )  # Abstract preferred over OtherAbstract; copyright and references left out
    assert first.meta == {
        "pmid": "111",
        "title": "Effect of Escherichia coli on CO2 uptake.",
        "language": "eng",
    }
    assert third.text == "[Translated title].\n\nAn English abstract."
    assert third.meta["language"] == "eng"  # the language of the OtherAbstract used
    assert ctx.skipped == Counter({"no_abstract": 1})
    assert ctx.deleted == ["pmid:444", "pmid:555"]


def _citation_set(tmp_path: Path, n: int) -> Path:
    record = (
        '<MedlineCitation Status="MEDLINE"><PMID Version="1">{i}</PMID><Article>'
        "<ArticleTitle>Title number {i} of a synthetic citation set.</ArticleTitle><Abstract>"
        '<AbstractText Label="METHODS">{words}</AbstractText></Abstract><Language>eng</Language>'
        "</Article></MedlineCitation>\n"
    )
    words = "some abstract words " * 40
    path = tmp_path / f"set{n}.xml.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("<MedlineCitationSet>\n")
        for i in range(1, n + 1):
            out.write(record.format(i=i, words=words))
        out.write("</MedlineCitationSet>\n")
    return path


def _peak_bytes(path: Path) -> int:
    ctx = ReadContext(source="medline")
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_medline(path, SourceConfig(kind="medline", path=""), ctx))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == int(path.name[3:-7])
    return peak


def test_medline_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    small = _peak_bytes(_citation_set(tmp_path, 300))
    large = _peak_bytes(_citation_set(tmp_path, 3000))  # ~2.7 MB of XML
    assert large < 1.5 * small + 200_000


# --- PMC -----------------------------------------------------------------------------------


def test_pmc_sample_body_extraction() -> None:
    docs, ctx = read("pmc", SAMPLES / "pmc" / "pone.0000217.nxml")
    assert len(docs) == 1
    doc = docs[0]
    assert doc.id == "pmc:PMC1790863"
    assert doc.meta == {
        "pmcid": "PMC1790863",
        "pmid": "17299597",
        "language": "eng",
        "title": "Quantifying Organismal Complexity using a Population Genetic Approach",
    }
    lines = doc.text.split("\n")
    assert lines[0] == doc.meta["title"]
    assert {"Background", "Introduction", "Model and Results"} <= set(lines)  # headings
    assert "Metazoan complexity and evolution" not in doc.text  # reference titles
    assert "Chance and necessity" not in doc.text
    assert "[1]–[5]" in doc.text  # inline citations are kept
    assert ctx.dropped == Counter({"formula": 24, "figure": 3, "reference": 33})


def test_pmc_all_samples_drop_counts_match_grep() -> None:
    # `grep -o '<table-wrap[ >]'` etc. over the five samples: 10 tables, 11 figures, 24
    # display formulas, 1 supplementary-material, 221 <ref> in the reference lists.
    ctx = ReadContext(source="pmc")
    ids = []
    for path in sorted((SAMPLES / "pmc").glob("*.nxml")):
        ids += [d.id for d in read_pmc(path, SourceConfig(kind="pmc", path=""), ctx)]
        if path.name.startswith("1471"):
            (doc,) = read_pmc(path, SourceConfig(kind="pmc", path=""), ReadContext(source="pmc"))
            assert "Effects of holin allelic sequences" not in doc.text  # table caption
            assert "Click here for file" not in doc.text  # supplementary material
            assert "Supplementary Material" not in doc.text.split("\n")  # its empty section
    assert ids == [
        "pmc:PMC3166277", "pmc:PMC2994229", "pmc:PMC2599765", "pmc:PMC3585041", "pmc:PMC1790863",
    ]  # fmt: skip
    assert ctx.dropped == Counter(
        {"table": 10, "figure": 11, "formula": 24, "supplementary": 1, "reference": 221}
    )
    assert not ctx.skipped


def _jats(pmc: str, lang: str = "", body: str = "<p>Body text.</p>") -> str:
    lang_attr = f' xml:lang="{lang}"' if lang else ""
    return (
        f'<article xmlns:xlink="http://www.w3.org/1999/xlink"{lang_attr}><front><article-meta>'
        f'<article-id pub-id-type="pmid">9{pmc[-2:]}</article-id>'
        f'<article-id pub-id-type="pmc">{pmc}</article-id>'
        "<title-group><article-title>Title <italic>in</italic> italics</article-title></title-group>"
        "</article-meta></front>"
        f"<body><sec><title>Methods</title>{body}</sec></body>"
        "<back><ref-list><ref><citation>Cited.</citation></ref></ref-list></back></article>"
    )


def test_pmc_tar_gz_bundle(tmp_path: Path) -> None:
    members = {
        "PMC42/a.nxml": _jats("PMC42", lang="fr"),
        "43/b.nxml": _jats(
            "43",
            body='<p>See <xref ref-type="bibr">[12]</xref>.<table-wrap><p>cell</p></table-wrap></p>',
        ),
        "44/c.nxml": _jats("44", body="<fig><caption><p>Only a figure.</p></caption></fig>"),
        "README.txt": "not an article",
    }
    bundle = tmp_path / "oa_bundle.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    docs, ctx = read("pmc", bundle)
    assert [d.id for d in docs] == ["pmc:PMC42", "pmc:PMC43"]
    assert docs[0].text == "Title in italics\n\nMethods\nBody text."
    assert docs[0].meta == {
        "pmcid": "PMC42",
        "pmid": "942",
        "language": "fre",
        "title": "Title in italics",
    }
    assert docs[1].text == "Title in italics\n\nMethods\nSee [12]."
    assert docs[1].meta["language"] == "eng"
    assert ctx.skipped == Counter({"no_text": 1})
    assert ctx.dropped == Counter({"table": 1, "reference": 2})  # only kept articles count


# --- Pile and JSONL ------------------------------------------------------------------------

PILE_RECORDS = [
    {"text": "An abstract.", "meta": {"pile_set_name": "PubMed Abstracts"}},
    {"text": "def f(): pass", "meta": {"pile_set_name": "Github"}},
    {"text": "A full text.", "meta": {"pile_set_name": "PubMed Central"}},
    {"text": "Some web page.", "meta": {"pile_set_name": "Pile-CC"}},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_pile_keeps_the_wanted_subsets(tmp_path: Path, suffix: str) -> None:
    data = "".join(json.dumps(r) + "\n" for r in PILE_RECORDS).encode()
    path = tmp_path / f"00{suffix}"
    if suffix == ".jsonl.gz":
        data = gzip.compress(data)
    elif suffix == ".jsonl.zst":  # two frames, as concatenated zstd files are
        zstd = zstandard.ZstdCompressor()
        data = zstd.compress(data[:70]) + zstd.compress(data[70:])
    path.write_bytes(data)
    docs, ctx = read("pile", path)
    assert [(d.id, d.text) for d in docs] == [
        (f"pile:{path.as_posix()}:1", "An abstract."),
        (f"pile:{path.as_posix()}:3", "A full text."),
    ]
    assert docs[1].meta == {"pile_set_name": "PubMed Central"}
    assert ctx.skipped == Counter({"pile_subset": 2})
    docs, _ = read("pile", path, pile_subsets=["Github"])
    assert [d.text for d in docs] == ["def f(): pass"]


def test_jsonl_ids_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    records = [
        {"id": "pmid:1", "text": "First.", "pmid": "1", "title": "T", "language": "eng", "x": "y"},
        {"body": "Second.", "pmid": 2},
        {"id": 7, "text": "Third."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    docs, ctx = read("jsonl", path, on_error="skip")
    assert [(d.id, d.text) for d in docs] == [("pmid:1", "First."), ("7", "Third.")]
    assert ctx.skipped == Counter({"bad_record": 1})  # the record without "text"
    assert docs[0].meta == {"pmid": "1", "title": "T", "language": "eng"}
    docs, _ = read("jsonl", path, text_field="body", id_field=None, on_error="skip")
    assert [(d.id, d.meta) for d in docs] == [(f"{path.as_posix()}:2", {"pmid": "2"})]


def test_id_less_files_of_the_same_name_in_two_folders_do_not_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was ``train.jsonl:1`` twice: one folder's documents all dropped as ``duplicate_id``."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.jsonl").write_text(json.dumps(PILE_RECORDS[0]) + "\n")
        (tmp_path / folder / "x.nxml").write_text(_jats(""))  # no PMC id
    monkeypatch.chdir(tmp_path)
    globs = {"jsonl": "*/train.jsonl", "pile": "*/train.jsonl", "pmc": "*/x.nxml"}
    ids = [
        doc.id
        for kind, pattern in globs.items()
        for cfg, path in expand_sources([SourceConfig(kind=kind, path=pattern)])
        for doc in READERS[kind](path, cfg, ReadContext(source=kind))
    ]
    assert ids == [
        "a/train.jsonl:1", "b/train.jsonl:1", "pile:a/train.jsonl:1", "pile:b/train.jsonl:1",
        "a/x.nxml", "b/x.nxml",
    ]  # fmt: skip
    # a relative glob however written: the same ids
    (source, path), _ = expand_sources([SourceConfig(kind="jsonl", path="./b/../*/train.jsonl")])
    assert next(READERS["jsonl"](path, source, ReadContext(source="jsonl"))).id == ids[0]
    # an absolute glob names its files alike from any working directory (a split hashes the
    # ids): was relative to it, so a run started elsewhere split id-less documents otherwise
    absolute = SourceConfig(kind="jsonl", path=f"{tmp_path}/*/*.jsonl")
    for cwd in (tmp_path, tmp_path / "a", tmp_path.parent):
        monkeypatch.chdir(cwd)
        (source, path), _ = expand_sources([absolute])
        doc = next(READERS["jsonl"](path, source, ReadContext(source="jsonl")))
        assert doc.id == f"{tmp_path.as_posix()}/a/train.jsonl:1"


def test_jsonl_missing_text_field(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"text": "ok"}\n{"txt": "typo"}\n{"text": ["a list"]}\n')
    with pytest.raises(PrepError, match=r"mine\.jsonl:2: text field 'text' is missing"):
        read("jsonl", path)
    docs, ctx = read("jsonl", path, on_error="skip")
    assert [d.text for d in docs] == ["ok"]
    assert ctx.skipped == Counter({"bad_record": 2})


# --- Bad input -----------------------------------------------------------------------------


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "medline_cut.xml.gz"
    path.write_bytes(MEDLINE_SAMPLE.read_bytes()[:60_000])
    with pytest.raises(PrepError, match=r"medline_cut\.xml\.gz: truncated or corrupt file") as err:
        read("medline", path)
    assert "\n" not in str(err.value)
    docs, ctx = read("medline", path, on_error="skip")
    assert 0 < len(docs) < 526
    assert ctx.skipped["bad_record"] == 1


def _tar_reads_quietly(data: bytes) -> bool:
    """Whether ``tarfile``'s own gzip stream (``r|gz``) reads ``data`` to the end, no error."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:
            for member in tar:
                tar.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, zlib.error):
        return False
    return True


def test_truncated_pmc_bundle(tmp_path: Path) -> None:
    """Was read without error when cut just after an article (``r|gz`` does not check the gzip
    stream's end): the rest of the bundle was lost quietly."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for n in range(20):
            data = _jats(f"PMC{n}", body=f"<p>Article {n} " + "word " * (n * 37 % 200) + "</p>")
            info = tarfile.TarInfo(f"{n}/a.nxml")
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    whole = buffer.getvalue()
    cuts = [n for n in range(100, len(whole)) if _tar_reads_quietly(whole[:n])]  # past the header
    assert cuts  # the cut points the old reader accepted
    path = tmp_path / "oa_cut.tar.gz"
    for cut in cuts:
        path.write_bytes(whole[:cut])
        with pytest.raises(PrepError, match=r"oa_cut\.tar\.gz: truncated or corrupt file"):
            read("pmc", path)
    path.write_bytes(whole[: cuts[len(cuts) // 2]])
    docs, ctx = read("pmc", path, on_error="skip")
    assert 0 < len(docs) < 20 and ctx.skipped["bad_record"] == 1


@pytest.mark.parametrize(
    ("name", "content", "root"),
    [
        ("error.xml", "<html><body><h1>503 Service Unavailable</h1></body></html>", "html"),
        ("article.xml", (SAMPLES / "pmc" / "pone.0000217.nxml").read_text(), "article"),
    ],
)
def test_medline_refuses_other_xml(tmp_path: Path, name: str, content: str, root: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    message = (
        rf"{name}: not a MEDLINE/PubMed file: root element <{root}>, "
        r"expected <MedlineCitationSet> or <PubmedArticleSet>"
    )
    with pytest.raises(PrepError, match=message):
        read("medline", path)
    docs, ctx = read("medline", path, on_error="skip")
    assert docs == [] and ctx.skipped == Counter({"bad_record": 1})


def test_truncated_zst(tmp_path: Path) -> None:
    path = tmp_path / "pile_cut.jsonl.zst"
    data = "".join(json.dumps(r) + "\n" for r in PILE_RECORDS * 50).encode()
    path.write_bytes(zstandard.ZstdCompressor().compress(data)[:-10])
    with pytest.raises(PrepError, match=r"pile_cut\.jsonl\.zst: truncated or corrupt file"):
        read("pile", path)
    _, ctx = read("pile", path, on_error="skip")
    assert ctx.skipped["bad_record"] == 1


def test_malformed_xml(tmp_path: Path) -> None:
    lines = PUBMED_ARTICLE_SET.split("\n")
    bad_line = next(i for i, line in enumerate(lines, 1) if 'PMID Version="1">222' in line)
    lines[bad_line - 1] = '    <PMID Version="1">222</PMD>'
    path = tmp_path / "broken.xml"
    path.write_text("\n".join(lines))
    with pytest.raises(PrepError, match=rf"broken\.xml:{bad_line}: malformed XML \(mismatched tag"):
        read("medline", path)
    docs, ctx = read("medline", path, on_error="skip")
    assert [d.id for d in docs] == ["pmid:111"]  # what came before the error
    assert ctx.skipped == Counter({"bad_record": 1})
    pmc = tmp_path / "broken.nxml"
    pmc.write_text(_jats("PMC5").replace("</sec>", "</section>"))
    with pytest.raises(PrepError, match=r"broken\.nxml:1: malformed XML"):
        read("pmc", pmc)


def test_invalid_json_line(tmp_path: Path) -> None:
    path = tmp_path / "pile.jsonl"
    good = json.dumps(PILE_RECORDS[0])
    path.write_text(f'{good}\n{{"text": "unterminated\n{good}\n')
    for kind in ("pile", "jsonl"):
        with pytest.raises(PrepError, match=r"pile\.jsonl:2: invalid JSON \(Unterminated string"):
            read(kind, path)
        docs, ctx = read(kind, path, on_error="skip")
        assert len(docs) == 2 and ctx.skipped["bad_record"] == 1


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl.gz"
    lines = ['{"text": "fine"}', '{"text": "caf\u00e9"}', '{"text": "also fine"}']
    path.write_bytes(gzip.compress("\n".join(lines).encode("latin-1")))
    with pytest.raises(PrepError, match=r"latin1\.jsonl\.gz:2: not UTF-8"):
        read("jsonl", path)
    docs, ctx = read("jsonl", path, on_error="skip")
    assert [d.text for d in docs] == ["fine", "also fine"]
    assert ctx.skipped == Counter({"bad_record": 1})


# --- Source expansion and the registry -----------------------------------------------------


def test_expand_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("b/2.xml", "a/1.xml", "a/deep/3.xml", "a/notes.txt", "c.xml/x"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    monkeypatch.chdir(tmp_path)
    medline = SourceConfig(kind="medline", path="**/*.xml")
    pmc = SourceConfig(kind="pmc", path="none/*.nxml")
    files = expand_sources([medline])
    assert files == [(medline, Path(p)) for p in ("a/1.xml", "a/deep/3.xml", "b/2.xml")]
    with pytest.raises(
        PrepError, match=r"^sources\[1\] \(pmc\): path 'none/\*\.nxml' matches no file$"
    ):
        expand_sources([medline, pmc])


def test_readers_are_picklable_generator_functions() -> None:
    assert set(READERS) == {"medline", "pmc", "pile", "jsonl"}
    assert READERS["jsonl"] is read_jsonl and READERS["pile"] is read_pile
    for reader in READERS.values():
        assert inspect.isgeneratorfunction(reader)
        assert pickle.loads(pickle.dumps(reader)) is reader
