"""The gold answer's bits per byte moves as a model learns while its accuracy sits at chance.

Two checkpoints of one tiny Composer run (real optimizer steps on PubMedQA's shipped train
abstracts): both answer MMLU anatomy at chance, but the later one predicts the gold answers'
text measurably better. At learning rate 0 the same test fails (the two intervals overlap).
"""

from __future__ import annotations

import json
from pathlib import Path

from eval_gauntlet.__main__ import main
from eval_gauntlet.results import read_rows
from tests.eval_gauntlet.tiny import DATA, composer_fit, text_ids

STEPS = 16  # batches of 2 x 64 tokens at lr 3e-3: the loss falls, accuracy does not move


def test_gold_bpb_falls_beyond_its_interval_while_accuracy_is_at_chance(
    tiny_dir: Path, tmp_path: Path
) -> None:
    with (DATA / "pubmedqa_labeled_train.jsonl").open(encoding="utf-8") as lines:
        texts = [json.loads(line)["question"] for line in lines]
    ids = text_ids(tiny_dir, texts, rows=2 * STEPS, seq_len=64)
    run = composer_fit(tiny_dir, tmp_path / "checkpoints", ids, lr=3e-3, save_at=(1, STEPS))
    out = tmp_path / "eval"
    argv = ["score", str(run), "--out", str(out), "--settle", "0", "--no-progress"]
    assert main([*argv, "--tasks", "mmlu_anatomy", "--shots", "0", "--sample", "60"]) == 0
    early, late = sorted(
        (row for row in read_rows(out / "results.jsonl") if row["kind"] == "task"),
        key=lambda row: row["step"],
    )
    assert (early["step"], late["step"]) == (1, STEPS)
    for row in (early, late):  # accuracy at chance: its interval holds the random baseline
        assert row["ci95"][0] <= row["random_baseline"] <= row["ci95"][1]
        low, high = row["gold_text_bpb_ci95"]
        assert 0.0 < low <= row["gold_text_bpb"] <= high
    assert late["gold_text_bpb_ci95"][1] < early["gold_text_bpb_ci95"][0]  # lower: better, beyond the CIs
    table = (out / "results.md").read_text()
    assert f"| {early['gold_bpb']:.3f} | {early['gold_text_bpb_ci95'][0]:.3f}–" in table
