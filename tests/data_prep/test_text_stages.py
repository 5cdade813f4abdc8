"""The per-document text stages: normalisation, filters, decontamination, deduplication, split."""

from __future__ import annotations

import hashlib
import itertools
import json
import pickle
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from data_prep.cleaning import normalize_text, rejection_reason
from data_prep.config import (
    BenchmarkFile,
    CleanConfig,
    DecontaminateConfig,
    SourceConfig,
    SplitConfig,
)
from data_prep.decontaminate import EvalIndex, words_of
from data_prep.dedup import FileKeys, id_hash, plan_dedup, text_hash
from data_prep.document import Document, PrepError
from data_prep.extract import ExtractTask
from data_prep.selection import select_and_split, split_of

REPO = Path(__file__).resolve().parents[2]
EVAL = REPO / "medtasks" / "data"
SAMPLES = REPO / "data_prep" / "samples"
FILLER_BEFORE = "Zebra xylophone quagmire notwithstanding."
FILLER_AFTER = "Kumquat obelisk marmalade."
UNIQUE = itertools.count()


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


# --- normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ﬁnal ﬂow eﬀect oﬃce baﬄe", "final flow effect office baffle"),
        ("5\u00a0mg and\u2009thin\u202fnarrow\u3000wide", "5 mg and thin narrow wide"),
        (
            "zero\u200bwidth\u200c\u200d\u2060 bom\ufeff soft\u00adhyphen",
            "zerowidth bom softhyphen",
        ),
        ("bell\x07 nul\x00 esc\x1b del\x7f c1\x85 end", "bell nul esc del c1 end"),
        ("tabs\t\tand   spaces", "tabs and spaces"),
        ("windows\r\nmac\rpage\fbreak", "windows\nmac\npage\nbreak"),
        ("  first line  \n\t second line \n", "first line\nsecond line"),
        ("para one\n\n\n\n\npara two\n \n \npara three", "para one\n\npara two\n\npara three"),
        ("e\u0301te\u0301", "\u00e9t\u00e9"),  # NFC composes
        ("10² cells in 5 µg/mL at 37 °C", "10² cells in 5 µg/mL at 37 °C"),  # not NFKC
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_keeps_micro_sign_and_superscript_code_points() -> None:
    text = normalize_text("\u00b5g and 10\u00b2")
    assert "\u00b5" in text and "\u00b2" in text and "\u03bc" not in text


def test_normalize_is_idempotent_on_real_abstracts() -> None:
    for row in read_jsonl(SAMPLES / "pubmedqa_train_contexts.jsonl")[:50]:
        once = normalize_text(row["text"])
        assert normalize_text(once) == once
        assert "\n\n\n" not in once and once == once.strip()


# --- filters -----------------------------------------------------------------------------


def doc(text: str, **meta: str) -> Document:
    return Document(id="pmid:1", source="test", text=text, meta=dict(meta))


def test_too_short() -> None:
    cfg = CleanConfig(min_words=5)
    assert rejection_reason(doc("one two three four"), cfg) == "too_short"
    assert rejection_reason(doc("one two\nthree   four five"), cfg) is None
    assert rejection_reason(doc(""), CleanConfig(min_words=0)) is None


def test_language_filter() -> None:
    cfg = CleanConfig(min_words=1, languages=["eng"])
    assert rejection_reason(doc("text", language="fre"), cfg) == "language"
    assert rejection_reason(doc("text", language="eng"), cfg) is None
    assert rejection_reason(doc("text", language="ENG"), cfg) is None
    assert rejection_reason(doc("text", language="fre; eng"), cfg) is None
    # ISO 639-1 ("en", as most datasets tag) and 639-2/T codes are the same languages: all were
    # rejected (a JSONL corpus tagged "en" lost every document, without a word)
    for tag in ("en", "EN-us", "fr; en"):
        assert rejection_reason(doc("text", language=tag), cfg) is None
    for wanted, tag in (("en", "eng"), ("fre", "fra")):  # clean.languages written either way
        assert rejection_reason(doc("text", language=tag), CleanConfig(1, [wanted])) is None
    assert rejection_reason(doc("text", language="de"), cfg) == "language"
    # beyond the most common languages: Swedish, Czech (639-2/T "ces" is MEDLINE's "cze"), Greek,
    # and a region written with "_"
    for wanted, tag in (
        ("swe", "sv"),
        ("cze", "cs"),
        ("ces", "cze"),
        ("gre", "el"),
        ("eng", "en_US"),
    ):
        assert rejection_reason(doc("text", language=tag), CleanConfig(1, [wanted])) is None
    assert rejection_reason(doc("text"), cfg) is None  # unknown kept by default
    strict = CleanConfig(min_words=1, languages=["eng"], keep_unknown_language=False)
    assert rejection_reason(doc("text"), strict) == "language"
    assert rejection_reason(doc("text", language="und"), strict) == "language"
    assert (
        rejection_reason(doc("text", language="fre"), CleanConfig(min_words=1, languages=[]))
        is None
    )


def test_too_short_is_reported_before_language() -> None:
    assert rejection_reason(doc("short", language="fre"), CleanConfig(min_words=3)) == "too_short"


# --- decontamination ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> EvalIndex:
    cfg = DecontaminateConfig(
        catalogue=None,
        benchmarks={
            "medqa": BenchmarkFile(path=str(EVAL / "medqa_usmle_4opt_test.jsonl")),
            "pubmedqa": BenchmarkFile(
                path=str(EVAL / "pubmedqa_labeled_test.jsonl"), pmid_field="realidx"
            ),
            "mmlu_medical": BenchmarkFile(path=str(EVAL / "mmlu_medical_test.jsonl")),
        },
    )
    return EvalIndex.from_config(cfg)


@pytest.fixture(scope="module")
def pubmedqa_item() -> dict:
    return read_jsonl(EVAL / "pubmedqa_labeled_test.jsonl")[1]


def planted(text: str, start: int, length: int) -> str:
    """``length`` consecutive words of ``text``, in upper case with other punctuation, in filler."""
    words = re.findall(r"[A-Za-z0-9]+", text)[start : start + length]
    assert len(words) == length
    return f"{FILLER_BEFORE} {' -- '.join(w.upper() for w in words)}!! {FILLER_AFTER}"


def test_index_counts_items_of_real_benchmarks(index: EvalIndex) -> None:
    stats = index.summary()["benchmarks"]
    assert {name: s["items"] for name, s in stats.items()} == {
        "medqa": 1273,
        "pubmedqa": 500,
        "mmlu_medical": 1089,
    }
    assert stats["pubmedqa"]["pmids"] == 500
    assert all(s["ngrams"] > 10_000 for s in stats.values())


def test_pubmedqa_pmid_match(index: EvalIndex, pubmedqa_item: dict) -> None:
    pmid = pubmedqa_item["realidx"]
    unrelated = "An unrelated text about something else entirely. " * 10
    by_meta = Document(id="pmc:PMC42", source="pmc", text=unrelated, meta={"pmid": pmid})
    assert index.match(by_meta) == ("pubmedqa", "pmid")
    by_id = Document(id=f"pmid:{pmid}", source="medline", text=unrelated)
    assert index.match(by_id) == ("pubmedqa", "pmid")


def test_pubmedqa_thirteen_words_match(index: EvalIndex, pubmedqa_item: dict) -> None:
    context = pubmedqa_item["question"].rsplit("\n", 1)[0]
    text = planted(context, start=40, length=13)
    assert index.match(Document(id="pmid:999999999", source="jsonl", text=text)) == (
        "pubmedqa",
        "ngram",
    )


def test_pubmedqa_twelve_words_do_not_match(index: EvalIndex, pubmedqa_item: dict) -> None:
    context = pubmedqa_item["question"].rsplit("\n", 1)[0]
    text = planted(context, start=40, length=12)
    assert index.match(Document(id="pmid:999999999", source="jsonl", text=text)) is None


def test_medqa_question_planted(index: EvalIndex) -> None:
    question = read_jsonl(EVAL / "medqa_usmle_4opt_test.jsonl")[7]["question"]
    hit = Document(id="x:1", source="jsonl", text=planted(question, start=5, length=13))
    assert index.match(hit) == ("medqa", "ngram")
    miss = Document(id="x:2", source="jsonl", text=planted(question, start=5, length=12))
    assert index.match(miss) is None


def test_real_clean_abstracts_do_not_match(index: EvalIndex) -> None:
    rows = read_jsonl(SAMPLES / "pubmedqa_train_contexts.jsonl")
    docs = [Document(id=r["id"], source="jsonl", text=normalize_text(r["text"])) for r in rows]
    assert [d.id for d in docs if index.match(d) is not None] == []


def test_whole_test_abstracts_all_match(index: EvalIndex) -> None:
    rows = read_jsonl(EVAL / "pubmedqa_labeled_test.jsonl")
    docs = [Document(id=f"y:{i}", source="jsonl", text=r["question"]) for i, r in enumerate(rows)]
    assert all(index.match(d) == ("pubmedqa", "ngram") for d in docs)


def test_a_batch_matches_each_document_alone_and_no_window_spans_two(
    index: EvalIndex, pubmedqa_item: dict
) -> None:
    words = pubmedqa_item["question"].rsplit("\n", 1)[0].split()[40:53]  # 13 words of a test item
    head = Document(id="a", source="s", text="Our results. " + " ".join(words[:7]))
    tail = Document(id="b", source="s", text=" ".join(words[7:]) + " were not reported.")
    whole = Document(id="c", source="s", text=head.text + " " + tail.text)
    clean = Document(id="d", source="s", text="An unrelated text about something else. " * 5)
    pmid = Document(id=f"pmid:{pubmedqa_item['realidx']}", source="s", text="unrelated")
    docs = [head, tail, clean, whole, pmid, Document(id="e", source="s", text="")]
    expected = [None, None, None, ("pubmedqa", "ngram"), ("pubmedqa", "pmid"), None]
    assert [index.match(d) for d in docs] == expected  # one at a time
    assert index.match_batch(docs) == expected  # the head's end and the tail's start: no match


def test_index_pickles(index: EvalIndex, pubmedqa_item: dict) -> None:
    copy = pickle.loads(pickle.dumps(index))
    context = pubmedqa_item["question"].rsplit("\n", 1)[0]
    text = planted(context, start=10, length=13)
    assert copy.match(Document(id="x", source="s", text=text)) == ("pubmedqa", "ngram")
    assert copy.summary() == index.summary()


def write_benchmark(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_an_item_copied_with_option_letters_is_found(tmp_path: Path) -> None:
    """The fields were indexed only run together: letters between the question and each option
    broke every window, and 349 of MMLU's 1,089 items copied in that layout went unnoticed."""
    row = {
        "question": "Which body cavity contains the pituitary gland in adult humans?",
        "options": {"A": "Abdominal", "B": "Cranial", "C": "Pleural", "D": "Spinal"},
    }
    path = write_benchmark(tmp_path / "mmlu.jsonl", [row])
    cfg = DecontaminateConfig(catalogue=None, benchmarks={"mmlu": BenchmarkFile(path=str(path))})
    index = EvalIndex.from_config(cfg)
    lettered = row["question"] + "\nA. Abdominal\nB. Cranial\nC. Pleural\nD. Spinal\nAnswer:"
    doc = Document(id="d", source="s", text=f"{FILLER_BEFORE} {lettered} {FILLER_AFTER}")
    assert index.match(doc) == ("mmlu", "ngram")


def test_short_items_and_option_fields(tmp_path: Path) -> None:
    rows = [
        {
            "question": "Which nerve innervates the deltoid muscle?",
            "options": {"A": "axillary", "B": "radial"},
        },
        {"question": "Tiny item here", "options": ["yes", "no"]},  # 5 words: not indexed
        {"question": ["nested", {"deeper": "Glycolysis occurs in the cytoplasm of the cell"}]},
        {"options": 3, "other": "ignored field with many many many words in it for sure"},
    ]
    path = write_benchmark(tmp_path / "mini.jsonl", rows)
    cfg = DecontaminateConfig(catalogue=None, benchmarks={"mini": BenchmarkFile(path=str(path))})
    mini = EvalIndex.from_config(cfg)
    assert mini.summary()["benchmarks"]["mini"]["items"] == 4

    def hit(text: str) -> tuple[str, str] | None:
        return mini.match(
            Document(id="d", source="s", text=f"{FILLER_BEFORE} {text} {FILLER_AFTER}")
        )

    # 8 words in all (question then options): indexed as one window of 8 words.
    assert hit("which NERVE innervates the deltoid muscle? -- axillary; radial.") == (
        "mini",
        "ngram",
    )
    assert hit("which nerve innervates the deltoid muscle? axillary") is None
    assert hit("tiny item here: yes / no") is None
    assert hit("Nested: glycolysis occurs in the cytoplasm of the cell.") == ("mini", "ngram")
    assert hit("ignored field with many many many words in it for sure") is None


def test_first_benchmark_in_config_order_is_named(tmp_path: Path) -> None:
    row = {"question": "one two three four five six seven eight nine ten eleven twelve thirteen"}
    first = write_benchmark(tmp_path / "a.jsonl", [row])
    second = write_benchmark(tmp_path / "b.jsonl", [row])
    cfg = DecontaminateConfig(
        catalogue=None,
        benchmarks={"b": BenchmarkFile(path=str(second)), "a": BenchmarkFile(path=str(first))},
    )
    assert EvalIndex.from_config(cfg).match(Document(id="d", source="s", text=row["question"])) == (
        "b",
        "ngram",
    )


def test_bad_benchmark_files(tmp_path: Path) -> None:
    missing = DecontaminateConfig(
        catalogue=None, benchmarks={"x": BenchmarkFile(path=str(tmp_path / "none.jsonl"))}
    )
    with pytest.raises(PrepError, match=r"none\.jsonl"):
        EvalIndex.from_config(missing)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "fine"}\n\n{"question": oops}\n')
    with pytest.raises(PrepError, match=r"bad\.jsonl:3: invalid JSON"):
        EvalIndex.from_config(
            DecontaminateConfig(catalogue=None, benchmarks={"x": BenchmarkFile(path=str(bad))})
        )


def test_words_fast_ascii_path_agrees_with_regex() -> None:
    text = "IL-6 (p<0.05), n=52; Third-trimester_placentas [CI 1.2-3.4] O'Brien\tX"
    assert words_of(text) == re.findall(r"[^\W_]+", text.lower())
    assert words_of("Café – 10²·µg") == ["café", "10²", "µg"]


# --- deduplication -----------------------------------------------------------------------


def keys(
    ids: list[str],
    texts: list[str] | None = None,
    deleted: Sequence[str] = (),
    left_out: Sequence[str] = (),
) -> FileKeys:
    texts = texts if texts is not None else [f"text {next(UNIQUE)}" for _ in ids]
    return FileKeys(
        id_hashes=np.array([id_hash(i) for i in ids], dtype=np.uint64),
        text_hashes=np.array([text_hash(t) for t in texts], dtype=np.uint64),
        deleted_hashes=np.array([id_hash(i) for i in deleted], dtype=np.uint64),
        left_out_hashes=np.array([id_hash(i) for i in left_out], dtype=np.uint64),
    )


def plan(*files: FileKeys) -> tuple[list[list[bool]], dict[str, int]]:
    masks, drops = plan_dedup(list(files))
    return [m.tolist() for m in masks], drops


def test_same_id_later_file_wins() -> None:
    masks, drops = plan(keys(["a", "b"]), keys(["c", "a"]))
    assert masks == [[False, True], [True, True]]
    assert drops == {"duplicate_id": 1, "deleted": 0, "duplicate_text": 0}


def test_deletion_and_re_addition() -> None:
    masks, drops = plan(keys(["a", "b"]), keys(["c"], deleted=["a", "zz"]))
    assert masks == [[False, True], [True]]
    assert drops == {"duplicate_id": 0, "deleted": 1, "duplicate_text": 0}
    masks, drops = plan(keys(["a"]), keys([], deleted=["a"]), keys(["a"]))
    assert masks == [[False], [], [True]]
    assert drops == {"duplicate_id": 1, "deleted": 0, "duplicate_text": 0}
    # A deletion before the first appearance does nothing; one in the same file comes after.
    masks, _ = plan(keys([], deleted=["a", "b"]), keys(["a", "b"], deleted=["b"]))
    assert masks == [[], [True, False]]


def test_a_revision_left_out_supersedes_the_version_before_it() -> None:
    """An update whose revision of pmid:1 lost its abstract (or is filtered out): the baseline's
    version was kept as if current."""
    masks, drops = plan(keys(["pmid:1", "pmid:2"]), keys(["pmid:3"], left_out=["pmid:1"]))
    assert masks == [[False, True], [True]]
    assert drops == {"duplicate_id": 1, "deleted": 0, "duplicate_text": 0}
    # a later revision that is kept comes back; one kept in the same file stays
    masks, _ = plan(keys(["a"]), keys([], left_out=["a"]), keys(["a"]))
    assert masks == [[False], [], [True]]
    masks, _ = plan(keys(["a"]), keys(["a"], left_out=["a"]))
    assert masks == [[False], [True]]


def test_duplicate_text_first_wins_after_id_resolution() -> None:
    masks, drops = plan(
        keys(["pmid:1", "pmid:2"], ["abstract one", "abstract two"]),
        keys(["pmc:1", "pmid:1"], ["abstract one", "abstract two"]),
    )
    # pmid:1 is revised in file 2 into "abstract two", which pmid:2 already holds: dropped;
    # pmc:1 now holds the first surviving "abstract one".
    assert masks == [[False, True], [True, False]]
    assert drops == {"duplicate_id": 1, "deleted": 0, "duplicate_text": 1}


def test_empty_inputs() -> None:
    assert plan() == ([], {"duplicate_id": 0, "deleted": 0, "duplicate_text": 0})
    assert plan(keys([]), keys(["a"]))[0] == [[], [True]]


def reference_dedup(
    files: list[tuple[list[int], list[int], list[int], list[int]]],
) -> list[list[bool]]:
    """The rules written as a plain loop over events, to check the vectorised version."""
    state: dict[int, tuple[int, int] | None] = {}  # id -> (file, row) of its current version
    for f, (ids, _, deleted, left_out) in enumerate(files):
        for i in left_out:  # a version read and not kept: current, and not kept
            if i in state:
                state[i] = None
        for row, i in enumerate(ids):
            state[i] = (f, row)
        for i in deleted:
            if i in state:
                state[i] = None
    alive = {pos for pos in state.values() if pos is not None}
    seen: set[int] = set()
    masks = []
    for f, (_, texts, _, _) in enumerate(files):
        mask = []
        for row, t in enumerate(texts):
            keep = (f, row) in alive and t not in seen
            if keep:
                seen.add(t)
            mask.append(keep)
        masks.append(mask)
    return masks


def test_dedup_matches_reference_on_random_files() -> None:
    rng = np.random.default_rng(0)
    files = [
        (
            rng.integers(0, 150, size=n).tolist(),
            rng.integers(0, 120, size=n).tolist(),
            rng.integers(0, 150, size=rng.integers(0, 20)).tolist(),
            rng.integers(0, 150, size=rng.integers(0, 20)).tolist(),
        )
        for n in rng.integers(0, 80, size=8)
    ]
    file_keys = [FileKeys(*(np.array(a, np.uint64) for a in arrays)) for arrays in files]
    masks, drops = plan_dedup(file_keys)
    assert [m.tolist() for m in masks] == reference_dedup(files)
    total = sum(len(arrays[0]) for arrays in files)
    assert sum(drops.values()) == total - sum(int(m.sum()) for m in masks)
    assert all(v > 0 for v in drops.values())


def test_hashes_are_stable_across_processes() -> None:
    assert id_hash("pmid:1") == int.from_bytes(
        hashlib.blake2b(b"pmid:1", digest_size=8).digest(), "little"
    )
    code = (
        "from data_prep.dedup import id_hash, text_hash; print(id_hash('pmid:1'), text_hash('x'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.split()
    assert out == [str(id_hash("pmid:1")), str(text_hash("x"))]


# --- split ---------------------------------------------------------------------------------


def test_split_is_deterministic_and_respects_fraction() -> None:
    cfg = SplitConfig(validation_fraction=0.1, salt="biomedlm")
    ids = [f"pmid:{i}" for i in range(10_000)]
    splits = [split_of(i, cfg) for i in ids]
    assert splits == [split_of(i, cfg) for i in ids]
    assert set(splits) == {"train", "validation"}
    assert 850 <= splits.count("validation") <= 1150


def test_split_salt_changes_assignment() -> None:
    ids = [f"pmid:{i}" for i in range(10_000)]
    a = [split_of(i, SplitConfig(validation_fraction=0.1, salt="one")) for i in ids]
    b = [split_of(i, SplitConfig(validation_fraction=0.1, salt="two")) for i in ids]
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 1000


def test_split_zero_fraction_is_all_train() -> None:
    cfg = SplitConfig(validation_fraction=0.0)
    assert {split_of(f"id{i}", cfg) for i in range(1000)} == {"train"}


def test_a_pmc_article_falls_in_the_split_of_its_abstract(tmp_path: Path) -> None:
    """Was a leak: validation's abstract pmid:X, verbatim, in train's pmc:PMCY (meta pmid X)."""
    cfg = SplitConfig(validation_fraction=0.2)
    x = next(
        i
        for i in range(1, 10_000)
        if split_of(f"pmid:{i}", cfg) == "validation" and split_of(f"pmc:PMC{i}", cfg) == "train"
    )
    records = [
        {"id": f"pmid:{x}", "source": "medline", "text": "Abstract.", "meta": {"pmid": str(x)}},
        {"id": f"pmc:PMC{x}", "source": "pmc", "text": "Abstract. Body.", "meta": {"pmid": str(x)}},
    ]
    task = ExtractTask(
        "t", "t.xml", SourceConfig(kind="pmc", path="x"), CleanConfig(), "raise", str(tmp_path)
    )
    task.output(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    ids = [r["id"] for r in records]
    np.savez(task.output(".keys.npz"), **vars(keys(ids, [r["text"] for r in records])))
    stats = select_and_split([task], cfg, tmp_path / "text")
    assert stats["documents"] == {"train": 0, "validation": 2}
    assert [r["id"] for r in read_jsonl(tmp_path / "text" / "validation.jsonl")] == ids


def test_extract_records_the_versions_it_leaves_out(tmp_path: Path) -> None:
    """What a file reads and does not keep (no abstract, filtered) is saved for dedup, which then
    drops the older versions (see test_a_revision_left_out_supersedes_the_version_before_it)."""
    from data_prep.extract import extract_file

    def citation(pmid: int, abstract: str | None) -> str:
        text = f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract>" if abstract else ""
        return (
            f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><ArticleTitle>T{pmid}"
            f"</ArticleTitle>{text}<Language>eng</Language></Article></MedlineCitation>"
            "</PubmedArticle>"
        )

    update = tmp_path / "update.xml"
    kept = " ".join(["A long enough abstract about renal sodium handling in a cohort."] * 4)
    update.write_text(
        f"<PubmedArticleSet>{citation(1, None)}{citation(2, 'Too short.')}{citation(3, kept)}"
        "</PubmedArticleSet>"
    )
    task = ExtractTask(
        "u", str(update), SourceConfig(kind="medline", path=str(update)), CleanConfig(), "raise",
        str(tmp_path),
    )  # fmt: skip
    stats = extract_file(task)
    assert (stats["kept"], stats["skipped"], stats["rejected"]) == (
        1,
        {"no_abstract": 1},
        {"too_short": 1},
    )
    with np.load(task.output(".keys.npz")) as saved:
        assert sorted(saved["left_out_hashes"].tolist()) == sorted(
            id_hash(f"pmid:{n}") for n in (1, 2)
        )


def test_a_file_that_keeps_none_of_its_documents_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A corpus tagged "en" was rejected whole with no word in the log."""
    from data_prep.extract import extract_file

    words = " ".join(["A long enough abstract about renal sodium handling in a cohort."] * 4)
    for tag, kept in (("en", 3), ("de", 0)):
        path = tmp_path / f"{tag}.jsonl"
        path.write_text((json.dumps({"text": words, "language": tag}) + "\n") * 3)
        source = SourceConfig(kind="jsonl", path=str(path), id_field=None)
        task = ExtractTask(tag, str(path), source, CleanConfig(), "raise", str(tmp_path))
        assert extract_file(task)["kept"] == kept
    assert [r.message for r in caplog.records if r.levelname == "WARNING"] == [
        f"{tmp_path / 'de.jsonl'}: kept none of its 3 documents (left out: language 3)"
    ]
