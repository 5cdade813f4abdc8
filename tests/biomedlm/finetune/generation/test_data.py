"""Generation data: the readers on the shipped releases and on bad files, the split, the rows."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from biomedlm.finetune.generation.data import make_splits
from biomedlm.finetune.generation.readers import DataError, Example, read_examples
from biomedlm.finetune.recipe import SplitConfig, question_key
from biomedlm.recipe_kinds import load_recipe
from biomedlm.settings import RecipeError
from tests.fixtures.paths import REPO
from tests.fixtures.runs import GENERATION_DEBUG

MEDQUAD = REPO / "data" / "finetune" / "medquad"
MEQSUM = REPO / "data" / "finetune" / "meqsum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"


def test_medquad_shipped_collections_give_the_documented_counts() -> None:
    """data/finetune/medquad/README.md: 541 documents, 3,335 pairs, none with an empty answer."""
    from biomedlm.finetune.generation.readers import expand

    assert len(expand([str(MEDQUAD)], (".xml",), "data.train")) == 541
    examples, skipped = read_examples("medquad", [str(MEDQUAD)], "data.train")
    assert len({e.id.split("-")[0] for e in examples}) == 535  # 6 documents have no pairs
    assert len(examples) == 3335 and not skipped
    assert len({e.id for e in examples}) == 3335
    per_collection = Counter(e.meta["collection"] for e in examples)
    assert per_collection == {"5_NIDDK_QA": 1192, "6_NINDS_QA": 1104, "7_SeniorHealth_QA": 769,
                              "9_CDC_QA": 270}  # fmt: skip
    first = next(e for e in examples if e.id == "5_NIDDK_QA/0000001-2")
    assert first.source == "What are the symptoms of Acromegaly ?"
    assert first.meta["qtype"] == "symptoms" and first.meta["focus"] == "Acromegaly"
    assert first.target.startswith("The name acromegaly comes from the Greek words")
    assert "  " not in first.target and '"extremities"' in first.target  # entities, whitespace


def _document(root: str, pairs: list[tuple[str, str]]) -> str:
    body = "".join(
        f'<QAPair pid="{i}"><Question qid="0000099-{i}" qtype="treatment">{q}</Question>'
        f"<Answer>{a}</Answer></QAPair>"
        for i, (q, a) in enumerate(pairs, start=1)
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} id="0000099"><Focus>X</Focus><QAPairs>{body}</QAPairs></{root}>'


def test_medquad_empty_answers_are_skipped_and_counted(tmp_path: Path) -> None:
    """As in the release's collections whose answers were removed upstream."""
    collection = tmp_path / "10_MPlus_ADAM_QA"
    collection.mkdir()
    (collection / "0000099.xml").write_text(
        _document(
            "Document", [("What is X ?", ""), ("How to treat X ?", "Rest."), ("Y ?", "  \n ")]
        )
    )
    (collection / "0000100.xml").write_text(
        '<?xml version="1.0"?><doc docid="0000100"><doctitle-focus>Z</doctitle-focus><qaPairs>'
        '<pair pid="1"><question qid="0000100-1" qtype="information">what is z ?</question>'
        "<answer>Z is a disorder.</answer></pair></qaPairs></doc>"
    )  # the release's older lower-case schema
    examples, skipped = read_examples("medquad", [str(tmp_path / "*_QA")], "data.train")
    assert [(e.source, e.target) for e in examples] == [
        ("How to treat X ?", "Rest."), ("what is z ?", "Z is a disorder.")]  # fmt: skip
    assert skipped == {"empty_answer": 2}
    assert examples[0].id == "10_MPlus_ADAM_QA/0000099-2"


def test_meqsum_gives_1000_pairs() -> None:
    examples, skipped = read_examples("meqsum", [str(MEQSUM)], "data.train")
    assert len(examples) == 1000 and not skipped
    assert len({e.id for e in examples}) == 1000
    assert examples[0].id == "1-131188152.xml.txt"
    assert examples[0].target == "Who manufactures cetirizine?"
    assert examples[0].source.startswith("SUBJECT: who and where to get cetirizine")


def _workbook(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


BAD_FILES = [
    ("medquad", "bad.xml", b"<Document><QAPairs><QAPair>", r"bad\.xml: malformed XML"),
    ("medquad", "bad.xml", b"<Note>not medquad</Note>", r"bad\.xml: not a MedQuAD document"),
    ("medquad", "bad.xml", b'<?xml version="1.0" encoding="UTF-8"?><Document>\xff\xfe</Document>',
     r"bad\.xml: malformed XML"),
    ("jsonl", "bad.jsonl", b'{"prompt": "a", "response": "b"}\n\xff\xfe\n', r"bad\.jsonl:2: not UTF-8"),
    ("jsonl", "bad.jsonl", b'{"prompt": "a", "response": "b"}\n{"prompt": \n', r"bad\.jsonl:2: invalid JSON"),
    ("jsonl", "bad.jsonl", b'{"prompt": "a"}\n', r"bad\.jsonl:1: no string 'response'"),
    ("meqsum", "bad.xlsx", b"PK\x03\x04 not a zip", r"bad\.xlsx: not a readable Excel workbook"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "name", "content", "message"), BAD_FILES)
def test_a_bad_file_is_one_line_naming_it(
    tmp_path: Path, fmt: str, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_examples(fmt, [str(tmp_path / name)], "data.train")
    assert "\n" not in str(caught.value)


def test_meqsum_missing_column_names_the_file_and_column(tmp_path: Path) -> None:
    book = _workbook(tmp_path / "m.xlsx", ["File", "CHQ", "Summry"], [["a", "q", "s"]])
    with pytest.raises(DataError, match=r"m\.xlsx: no column Summary in the header row"):
        read_examples("meqsum", [str(book)], "data.train")


def test_a_pattern_naming_nothing_fails_with_the_key(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.test: '.*nothing\*' names no \.xml file"):
        read_examples("medquad", [str(tmp_path / "nothing*")], "data.test")


def ex(i: int, source: str, target: str = "t") -> Example:
    return Example(f"id{i:04d}", source, target)


def test_hash_split_keeps_every_question_in_one_part_and_is_deterministic() -> None:
    examples, _ = read_examples("medquad", [str(MEDQUAD)], "data.train")
    splits = make_splits(examples, None, None, SplitConfig(validation=0.1, test=0.1, seed=0))
    keys = {part: {question_key(e.source) for e in v} for part, v in splits.parts.items()}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]
    # MedQuAD repeats questions across documents; eval parts keep one reference per question
    assert splits.dropped["test"]["repeated_question"] > 0
    for part in ("validation", "test"):
        assert len(keys[part]) == len(splits.parts[part])
    shares = {part: len(v) / len(examples) for part, v in splits.parts.items()}
    assert 0.06 < shares["test"] < 0.14 and 0.06 < shares["validation"] < 0.14
    again = make_splits(
        list(reversed(examples)), None, None, SplitConfig(validation=0.1, test=0.1, seed=0)
    )
    assert {p: sorted(e.id for e in v) for p, v in again.parts.items()} == {
        p: sorted(e.id for e in v) for p, v in splits.parts.items()
    }
    other = make_splits(examples, None, None, SplitConfig(validation=0.1, test=0.1, seed=1))
    assert {e.id for e in other.parts["test"]} != {e.id for e in splits.parts["test"]}


def test_given_parts_drop_training_questions_they_hold() -> None:
    train = [ex(7, "Z ?"), ex(1, "What is X ?"), ex(2, "what is  x ?", "other"), ex(3, "Y ?"),
             ex(4, "Y ?")]  # fmt: skip
    splits = make_splits(train, [ex(5, "Y ?"), ex(8, "W ?")], [ex(6, "WHAT IS X ?")])
    assert [e.id for e in splits.parts["train"]] == ["id0007"]
    assert splits.dropped["train"] == {"question_in_eval_parts": 3, "repeated_pair": 1}


def test_a_part_that_comes_out_empty_is_an_error() -> None:
    with pytest.raises(DataError, match=r"data\.split: the test part came out empty"):
        make_splits(
            [ex(1, "a ?"), ex(2, "b ?")], None, None, SplitConfig(validation=0.0, test=0.01, seed=0)
        )
    with pytest.raises(DataError, match=r"data\.test: the test part came out empty"):
        make_splits([ex(1, "a ?")], None, [])


def test_split_examples_applies_limits_and_needs_a_test_part(tmp_path: Path) -> None:
    from biomedlm.finetune.generation.data import split_examples

    recipe = load(GENERATION_DEBUG, tmp_path, ["data.train_limit=50", "data.test_limit=5"])
    splits, manifest = split_examples(recipe)
    assert len(splits.parts["train"]) == 50 and len(splits.parts["test"]) == 5
    assert manifest["read"] == 1104
    with pytest.raises(RecipeError, match=r"eval\.test_after_fit: the recipe has no test part"):
        split_examples(load(GENERATION_DEBUG, tmp_path, ["data.split=null"]))
    with pytest.raises(RecipeError, match=r"data\.split\.test and data\.test both make"):
        load(GENERATION_DEBUG, tmp_path, [f"data.test=[{MEDQUAD / '9_CDC_QA'}]"])


def test_a_listed_part_beside_a_split_is_taken_as_listed(tmp_path: Path) -> None:
    """As recipe checks advise (``data.split.test=0`` or ``data.test=[]``) and the choice family
    does: the listed test set is the test part, the split makes the validation part."""
    from biomedlm.finetune.generation.data import split_examples

    listed = MEDQUAD / "9_CDC_QA"
    overrides = ["data.split.test=0", f"data.test=[{listed}]", f"data.train=[{MEDQUAD}]"]
    splits, _ = split_examples(load(GENERATION_DEBUG, tmp_path, overrides))
    tests, _ = read_examples("medquad", [str(listed)], "data.test")
    assert {e.id for e in splits.parts["test"]} <= {e.id for e in tests}
    assert splits.parts["validation"] and splits.parts["train"]
    held = {question_key(e.source) for e in splits.parts["test"]}
    assert not held & {question_key(e.source) for e in splits.parts["train"]}


def load(path: Path, tmp_path: Path, overrides: list[str]) -> Any:
    return load_recipe(path, [f"run_dir={tmp_path / 'run'}", *overrides], components=False)


def test_a_bad_file_at_launch_leaves_no_rows(tmp_path: Path, tiny_dir: Path) -> None:
    """Nothing half-written: the launch fails before any row file exists."""
    from transformers import AutoTokenizer

    from biomedlm.finetune.generation.data import prepare_data
    from biomedlm.generation_layout import SEPARATOR

    good = tmp_path / "good.jsonl"
    good.write_text(
        "".join(json.dumps({"prompt": f"q{i}", "response": "a"}) + "\n" for i in range(40))
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "response": "a"}\n{"prompt": }\n')
    recipe = load(GENERATION_DEBUG, tmp_path,
                  ["data.format=jsonl", f"data.train=[{good},{bad}]"])  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    with pytest.raises(DataError, match=r"bad\.jsonl:2: invalid JSON"):
        prepare_data(recipe, tokenizer, SEPARATOR)  # type: ignore[arg-type]
    assert not (tmp_path / "run" / "data").exists()
