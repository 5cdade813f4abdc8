"""Fine-tuning data read as released; every bad file is one line naming it, before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from biomedlm.finetune.choice.readers import DataError, Source, part_examples, read_file, resolve
from biomedlm.finetune.recipe import DataConfig, SplitConfig
from tests.fixtures.paths import REPO

PUBMEDQA = REPO / "data" / "finetune" / "pubmedqa"


def lines(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def medmcqa_row(cop: int, **extra: object) -> dict[str, object]:
    row = {"id": "x", "question": "Which?", "opa": "a", "opb": "b", "opc": "c", "opd": "d"}
    return {**row, "cop": cop, **extra}


def test_medmcqa_cop_from_zero_or_one_gives_the_same_labels(tmp_path: Path) -> None:
    ones = lines(tmp_path / "one.json", [medmcqa_row(c) for c in (1, 4, 2)])
    zeros = lines(tmp_path / "zero.json", [medmcqa_row(c) for c in (0, 3, 1)])
    labels = [
        [e.label for e in read_file(Source(path, "medmcqa"), "train", base)]
        for path, base in ((ones, 1), (zeros, 0))
    ]
    assert labels[0] == labels[1] == [0, 3, 1]


@pytest.mark.parametrize(("cop", "base"), [(0, 1), (5, 1), (4, 0), (-1, 0)])
def test_medmcqa_cop_out_of_range_names_file_and_line(tmp_path: Path, cop: int, base: int) -> None:
    path = lines(tmp_path / "dev.json", [medmcqa_row(base), medmcqa_row(cop)])
    with pytest.raises(
        DataError, match=rf"^{path}:2: cop {cop} is outside .* \(data\.cop_base {base}\)"
    ):
        read_file(Source(path, "medmcqa"), "train", base)


def test_medmcqa_needs_the_recipe_to_say_where_cop_counts_from(tmp_path: Path) -> None:
    path = lines(tmp_path / "dev.json", [medmcqa_row(1)])
    with pytest.raises(DataError, match=r"set data\.cop_base=1 or data\.cop_base=0"):
        read_file(Source(path, "medmcqa"), "train", None)


def test_pubmedqa_release_gives_the_standard_450_50_500_split() -> None:
    parts = {
        part: read_file(Source(PUBMEDQA / "ori_pqal.json", "pubmedqa"), part)
        for part in ("train", "validation", "test")
    }
    assert [len(parts[p]) for p in ("train", "validation", "test")] == [450, 50, 500]
    gauntlet_train = REPO / "medtasks" / "data" / "pubmedqa_labeled_train.jsonl"
    shipped = {str(json.loads(line)["realidx"]) for line in gauntlet_train.open()}
    assert {e.key for e in parts["train"]} == shipped
    truth = json.loads((PUBMEDQA / "test_ground_truth.json").read_text())
    assert {e.key: e.options[e.label] for e in parts["test"]} == truth
    keys = [{e.key for e in examples} for examples in parts.values()]
    assert len(set.union(*keys)) == 1000
    first = parts["test"][0]
    assert first.options == ("yes", "no", "maybe") and first.context and first.question


def test_pubmedqa_release_without_its_ground_truth_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "ori_pqal.json"
    copy.write_bytes((PUBMEDQA / "ori_pqal.json").read_bytes())
    with pytest.raises(DataError, match=r"needs its test_ground_truth\.json beside it"):
        read_file(Source(copy, "pubmedqa"), "train")


def medqa_row(options: dict[str, str], answer: str = "A", **extra: object) -> dict[str, object]:
    return {"question": "Which?", "options": options, "answer_idx": answer, **extra}


ABCD = {"A": "a", "B": "b", "C": "c", "D": "d"}
BAD_FILES = [  # (format, rows or text, expected message after "file:")
    ("medqa", [medqa_row(ABCD), medqa_row({"A": "a", "B": "b"})], r":2: 2 options, but"),
    ("medqa", [medqa_row(ABCD, "E")], r":1: answer_idx 'E' is not among the options A, B"),
    ("medqa", "", r": no examples in the file"),
    ("medqa", [{"options": ABCD, "answer_idx": "A"}], r":1: missing column 'question'"),
    ("medmcqa", [{k: v for k, v in medmcqa_row(1).items() if k != "opc"}], r":1: missing col"),
    ("medmcqa", [{k: v for k, v in medmcqa_row(1).items() if k != "cop"}], r":1: missing col"),
    ("medqa", "{not json\n", r":1: invalid JSON"),
    ("bioasq", "1\tIs it?\tcontext\tmaybe\n", r":1: label 'maybe' is not one of"),
    ("bioasq", "1\tIs it?\tcontext\n", r":1: expected 4 tab-separated columns"),
]


@pytest.mark.parametrize(("fmt", "content", "message"), BAD_FILES)
def test_a_bad_file_is_one_line_naming_it(
    tmp_path: Path, fmt: str, content: object, message: str
) -> None:
    path = tmp_path / ("data.tsv" if fmt == "bioasq" else "data.jsonl")
    if isinstance(content, list):
        lines(path, content)
    else:
        path.write_text(str(content))
    with pytest.raises(DataError, match=f"^{path}{message}") as caught:
        read_file(Source(path, fmt), "train", 1)
    assert "\n" not in str(caught.value)


def test_bioasq_from_blurbs_tsv_or_the_json_lines_reads_alike(tmp_path: Path) -> None:
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("id\tquestion\tcontext\tlabel\nq1\tIs A?\tA is so.\tyes\nq2\tIs B?\tNo.\tno\n")
    jsonl = lines(
        tmp_path / "dev.json",
        [
            {"id": "q1", "sentence1": "Is A?", "sentence2": "A is so.", "label": "yes"},
            {"id": "q2", "sentence1": "Is B?", "sentence2": "No.", "label": "no"},
        ],
    )
    read = [read_file(Source(p, "bioasq"), "test") for p in (tsv, jsonl)]
    assert [(e.key, e.question, e.context, e.label) for e in read[0]] == [
        (e.key, e.question, e.context, e.label) for e in read[1]
    ]
    assert [e.label for e in read[0]] == [0, 1] and read[0][0].options == ("yes", "no")


def test_file_lists_take_globs_folders_and_a_format_prefix(tmp_path: Path) -> None:
    lines(tmp_path / "a.jsonl", [medqa_row(ABCD)])
    lines(tmp_path / "b.jsonl", [medqa_row(ABCD)])
    (tmp_path / "sub").mkdir()
    m = lines(tmp_path / "sub" / "m.json", [])
    sources = resolve("data.train", [str(tmp_path / "*.jsonl"), f"medmcqa:{m}"], "medqa")
    assert [(s.path.name, s.format) for s in sources] == [
        ("a.jsonl", "medqa"),
        ("b.jsonl", "medqa"),
        ("m.json", "medmcqa"),
    ]
    assert [s.path.name for s in resolve("data.test", [str(tmp_path)], "medqa")] == [
        "a.jsonl",
        "b.jsonl",
    ]
    with pytest.raises(DataError, match=r"^data.validation: no file matches .*nothing\*"):
        resolve("data.validation", [str(tmp_path / "nothing*")], "medqa")


def test_the_pubmedqa_release_folder_reads_as_its_ori_pqal_file() -> None:
    """docs: data.* takes folders; the folder's test_ground_truth.json was read as data too."""
    data = DataConfig(format="pubmedqa", train=[str(PUBMEDQA)], test=[str(PUBMEDQA)])
    file = DataConfig(format="pubmedqa", train=[str(PUBMEDQA / "ori_pqal.json")])
    assert [e.key for e in part_examples(data, "train")] == [
        e.key for e in part_examples(file, "train")
    ]
    assert len(part_examples(data, "test")) == 500


def test_split_from_train_is_disjoint_stable_and_keeps_a_question_in_one_part(
    tmp_path: Path,
) -> None:
    rows = [medqa_row(ABCD, question=f"question {i % 150}") for i in range(300)]  # each twice
    train = lines(tmp_path / "train.jsonl", rows)
    shuffled = lines(tmp_path / "shuffled.jsonl", rows[::-1])
    split = SplitConfig(validation=0.2, test=0.2, seed=3)
    parts = {}
    for path in (train, shuffled):
        data = DataConfig(format="medqa", train=[str(path)], split=split)
        parts[path] = {
            part: {e.question for e in part_examples(data, part)}
            for part in ("train", "validation", "test")
        }
    assert parts[train] == parts[shuffled]
    sets = list(parts[train].values())
    assert sum(map(len, sets)) == 150 and all(40 > len(s) > 10 for s in sets[1:])


def test_split_hashes_the_question_not_the_row_id(tmp_path: Path) -> None:
    """MedMCQA and MMLU repeat a question under other ids: hashing the id put one question in
    train and test (every question below was in both)."""
    rows = [
        medqa_row(ABCD, question=f"Question  {i % 50}" if i % 2 else f"question {i % 50}", id=i)
        for i in range(200)
    ]  # each question four times, under four ids, case and spacing varied
    data = DataConfig(
        format="medqa",
        train=[str(lines(tmp_path / "train.jsonl", rows))],
        split=SplitConfig(validation=0.1, test=0.2, seed=0),
    )
    parts = {
        part: {" ".join(e.question.lower().split()) for e in part_examples(data, part)}
        for part in ("train", "validation", "test")
    }
    assert parts["test"] and parts["validation"]
    assert not parts["train"] & parts["test"] and not parts["train"] & parts["validation"]
    assert not parts["validation"] & parts["test"]


@pytest.mark.parametrize("part", ["validation", "test"])
def test_a_part_both_listed_and_split_out_of_train_is_refused(part: str) -> None:
    """Listed, the part's split share was taken out of training and used nowhere."""
    with pytest.raises(ValueError, match=rf"^data\.split\.{part} and data\.{part} both make"):
        DataConfig(format="medqa", train=["t.jsonl"], split=SplitConfig(), **{part: ["x.jsonl"]})
    listed = DataConfig(  # medmcqa.yaml: validation split out of train, the dev set listed as test
        format="medqa", train=["t.jsonl"], test=["x.jsonl"], split=SplitConfig(test=0.0)
    )
    assert listed.split is not None


def test_bad_data_fails_before_training_and_writes_nothing(tiny_dir: Path, tmp_path: Path) -> None:
    bad = lines(tmp_path / "train.jsonl", [medqa_row(ABCD), medqa_row(ABCD, "F")])
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "biomedlm.train",
            "recipes/finetune/medqa-debug-cpu.yaml",
            f"model.init_from={tiny_dir}",
            f"data.train=[{bad}]",
            f"run_dir={run_dir}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {bad}:2: answer_idx 'F' is not among the options A, B, C, D"
    )
    assert "Traceback" not in result.stderr and not run_dir.exists()
