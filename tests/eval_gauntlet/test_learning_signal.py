"""The gold answer's text's bits per byte moves as a model learns while accuracy sits at chance.

Two checkpoints of one tiny Composer run (real optimizer steps on PubMedQA's shipped train
abstracts): both answer MMLU anatomy and MedQA at chance, but the later one predicts the gold
option's text after a cloze prompt measurably better (4.79 -> 4.13 and 5.10 -> 4.47 bits per
byte of the answers' own text). At learning rate 0 the test fails (the two checkpoints' 4.89,
interval 4.72-5.09, are the same). PubMedQA, whose gold text is the word yes/no/maybe after
``Answer:``, does not move in this run (7.02 -> 7.05): abstracts alone do not teach that word.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval_gauntlet.__main__ import main
from eval_gauntlet.rows import read_rows
from tests.fixtures.models import composer_fit, text_ids
from tests.fixtures.paths import DATA

STEPS = 16  # batches of 2 x 64 tokens at lr 3e-3: the loss falls, accuracy does not move


@pytest.fixture(scope="module")
def trained(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's checkpoints after batch 1 and batch ``STEPS``."""
    with (DATA / "pubmedqa_labeled_train.jsonl").open(encoding="utf-8") as lines:
        texts = [json.loads(line)["question"] for line in lines]
    ids = text_ids(tiny_dir, texts, rows=2 * STEPS, seq_len=64)
    folder = tmp_path_factory.mktemp("learning") / "checkpoints"
    return composer_fit(tiny_dir, folder, ids, lr=3e-3, save_at=(1, STEPS))


@pytest.mark.parametrize(  # MedQA's long vignettes take ~15 s more
    "task", ["mmlu_anatomy", pytest.param("medqa_4options", marks=pytest.mark.slow)]
)
def test_gold_text_bpb_falls_beyond_its_interval_while_accuracy_is_at_chance(
    trained: Path, tmp_path: Path, task: str
) -> None:
    out = tmp_path / "eval"
    argv = ["score", str(trained), "--out", str(out), "--settle", "0", "--no-progress"]
    assert main([*argv, "--tasks", task, "--shots", "0", "--sample", "60"]) == 0
    early, late = sorted(
        (row for row in read_rows(out / "results.jsonl") if row["kind"] == "task"),
        key=lambda row: row["step"],
    )
    assert (early["step"], late["step"]) == (1, STEPS)
    for row in (early, late):  # accuracy at chance: its interval holds the random baseline
        assert row["ci95"][0] <= row["random_baseline"] <= row["ci95"][1]
        low, high = row["gold_text_bpb_ci95"]
        assert 0.0 < low <= row["gold_text_bpb"] <= high
    # lower is better: the late interval lies wholly below the early one
    assert late["gold_text_bpb_ci95"][1] < early["gold_text_bpb_ci95"][0]
    table = (out / "results.md").read_text()
    assert f"| {early['gold_text_bpb']:.3f} | {early['gold_text_bpb_ci95'][0]:.3f}–" in table
