"""Result rows, table and plot: the protocol, log-softmax and gold probability of every row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval_gauntlet.__main__ import main
from eval_gauntlet.plot import plot_results
from eval_gauntlet.rows import read_rows
from eval_gauntlet.table import render_table
from eval_gauntlet.tasks import FROM_TEST, LM_EVAL
from tests.fixtures.paths import DATA

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def score(model_dir: Path, out: Path, *extra: str) -> list[dict[str, Any]]:
    argv = ["score", str(model_dir), "--out", str(out), "--no-progress", "--device", "cpu"]
    assert main([*argv, "--limit", "4", "--shots", "1", *extra]) == 0
    return read_rows(out / "results.jsonl")


def test_rows_say_protocol_softmax_and_gold_prob(tiny_dir: Path, tmp_path: Path) -> None:
    rows = score(tiny_dir, tmp_path / "a", "--tasks", "medqa_4options", "pubmedqa", "mmlu_anatomy")
    by_task = {row["task"]: row for row in rows if row["kind"] == "task"}
    assert by_task["medqa_4options"]["protocol"] == FROM_TEST  # no MedQA train split shipped
    assert by_task["pubmedqa"]["protocol"] == by_task["mmlu_anatomy"]["protocol"] == LM_EVAL
    assert {row["softmax_dtype"] for row in rows} == {"float32"}  # every row, categories too
    assert {row["model_dtype"] for row in rows} == {"float32"}
    assert by_task["medqa_4options"]["acc_norm"] is not None  # lm-eval's medqa defines it
    assert by_task["pubmedqa"]["acc_norm"] is None and by_task["mmlu_anatomy"]["acc_norm"] is None
    for row in by_task.values():
        low, high = row["gold_prob_ci95"]
        assert 0.0 < low <= row["gold_prob"] <= high < 1.0
        assert row["chance_prob"] == pytest.approx(1 / (3 if row["task"] == "pubmedqa" else 4))
        low, high = row["gold_text_bpb_ci95"]
        assert 0.0 < low <= row["gold_text_bpb"] <= high
    by_category = {row["task"]: row for row in rows if row["kind"] in ("category", "average")}
    assert by_category["clinical_reasoning"]["protocol"] == FROM_TEST  # MedQA's few-shot
    assert by_category["biomedical_literature"]["protocol"] == LM_EVAL
    assert by_category["average"]["protocol"] == FROM_TEST
    table = (tmp_path / "a" / "results.md").read_text()
    assert "| medqa_4options †1 | 1 | 4 |" in table
    assert "| clinical_reasoning (1-shot) †1 |" in table and "| average (1-shot) †1 |" in table
    assert "| biomedical_literature (1-shot) |" in table
    assert "†1 few-shot examples not as lm-eval's task: drawn from the test file" in table
    assert (
        "| pubmedqa | 1 | 4 |" in table and "log-softmax in float32; model weights float32" in table
    )
    predictions = tmp_path / "a" / "predictions" / tiny_dir.name / "pubmedqa.1shot.jsonl"
    first = json.loads(predictions.read_text().splitlines()[0])
    assert 0.0 < first["gold_prob"] < 1.0 and first["gold_text_bpb"] > 0.0


def test_rows_record_seed_subset_fewshot_source_and_dtype(tiny_dir: Path, tmp_path: Path) -> None:
    """Every row says how it was scored: seed, which items, few-shot source, weights' dtype asked
    for and scored in, whether the gold text was scored; predictions carry the prompt as lm-eval's
    --log_samples ``arguments`` do."""
    import math

    rows = score(tiny_dir, tmp_path / "a", "--tasks", "pubmedqa", "mmlu_anatomy", "--seed", "7",
                 "--dtype", "bfloat16", "--no-gold-text")  # fmt: skip
    assert {row["kind"] for row in rows} == {"task", "category", "average"}
    for row in rows:
        assert (row["seed"], row["subset"], row["dtype"], row["model_dtype"], row["gold_text"]) == (
            7, {"limit": 4}, "bfloat16", "bfloat16", False), row  # fmt: skip
    by_task = {row["task"]: row for row in rows}
    assert by_task["pubmedqa"]["fewshot_source"] == str(DATA / "pubmedqa_labeled_train.jsonl")
    assert by_task["mmlu_anatomy"]["fewshot_source"] == str(DATA / "mmlu_medical_dev.jsonl")
    # the average of the categories scored whole: PubMedQA's alone (MMLU's group is incomplete)
    assert by_task["average"]["fewshot_source"] == by_task["pubmedqa"]["fewshot_source"]
    assert all(math.isnan(by_task[t]["gold_text_bpb"]) for t in ("pubmedqa", "mmlu_anatomy"))
    table = (tmp_path / "a" / "results.md").read_text()
    assert "log-softmax in float32; model weights bfloat16; seed 7; the first 4 items" in table
    predictions = tmp_path / "a" / "predictions" / tiny_dir.name / "pubmedqa.1shot.jsonl"
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [line["doc_id"] for line in lines] == [0, 1, 2, 3]
    assert lines[0]["continuations"] == [" yes", " no", " maybe"]
    assert lines[0]["context"].startswith("Abstract: ") and lines[0]["context"].endswith("Answer:")
    # lm-eval's --samples: the items named, few-shot drawn for them alone; a task not named whole
    out = tmp_path / "b"
    samples = json.dumps({"pubmedqa": [3, 1], "mmlu_anatomy": [0]})
    assert main(["score", str(tiny_dir), "--out", str(out), "--no-progress", "--shots", "1",
                 "--tasks", "pubmedqa", "mmlu_anatomy", "--samples", samples]) == 0  # fmt: skip
    rows = read_rows(out / "results.jsonl")
    by_task = {row["task"]: row for row in rows}
    assert by_task["pubmedqa"]["subset"] == {"samples": {"pubmedqa": [1, 3]}}
    assert by_task["pubmedqa"]["n"] == 2 and by_task["mmlu_anatomy"]["n"] == 1
    assert by_task["average"]["subset"] == by_task["pubmedqa"]["subset"]
    assert rows[0]["dtype"] == "auto" and rows[0]["model_dtype"] == "float32"


def test_footnotes_say_why_a_row_is_not_lm_evals(tiny_dir: Path, tmp_path: Path) -> None:
    """A 0-shot lettered task differs by its format, not its few-shot examples; its category
    and the average are marked too, an lm-eval group beside it is not."""
    from tests.fixtures.tasks import organs_file

    tasks_file = organs_file(tmp_path / "mine")  # `organs`: lettered, in medical_knowledge
    argv = ["score", str(tiny_dir), "--out", str(tmp_path / "a"), "--no-progress", "--limit", "2"]
    argv += ["--tasks-file", str(tasks_file), "--tasks", "organs", "mmlu_medical", "--shots", "0"]
    assert main(argv) == 0
    table = (tmp_path / "a" / "results.md").read_text()
    assert "| organs †1 | 0 |" in table and "| **mmlu_medical** (all) | 0 |" in table
    assert "| medical_knowledge (0-shot) †1 |" in table and "| average (0-shot) †1 |" in table
    assert "†1 prompt format not lm-eval's: lettered is the gauntlet's own format" in table
    assert "few-shot" not in table


def test_a_pooled_row_gets_a_mark_per_difference() -> None:
    rows = [
        {**ROW, "task": "a", "protocol": FROM_TEST},
        {**ROW, "kind": "category", "task": "c", "score": 0.1,
         "protocol": f"{FROM_TEST}; gauntlet: format lettered is not an lm-eval task"},
        {**ROW, "kind": "group", "task": "g", "protocol": f"{LM_EVAL}; {FROM_TEST}"},  # older
    ]  # fmt: skip
    table = render_table(rows)
    assert "| a †1 |" in table and "| c (0-shot) †1 †2 |" in table and "| **g** (all) †1 |" in table
    assert "†2 prompt format not lm-eval's: lettered" in table and "†3" not in table


def test_fewshot_source_and_softmax_flags(tiny_dir: Path, tmp_path: Path) -> None:
    train = tmp_path / "medqa_train.jsonl"  # MedQA's release schema: read as is
    train.write_text(
        "".join((DATA / "medqa_usmle_4opt_test.jsonl").read_text().splitlines(True)[600:])
    )
    rows = score(
        tiny_dir, tmp_path / "b", "--tasks", "medqa_4options", "--softmax-dtype", "model",
        "--fewshot-source", f"medqa_4options={train}",
    )  # fmt: skip
    (task,) = [row for row in rows if row["kind"] == "task"]
    assert task["protocol"] == LM_EVAL and task["softmax_dtype"] == "model"
    assert "†" not in (tmp_path / "b" / "results.md").read_text()
    predictions = tmp_path / "b" / "predictions" / tiny_dir.name / "medqa_4options.1shot.jsonl"
    train_keys = {str(n) for n in range(601, 1274)}  # the train file's line numbers
    shots = [json.loads(line)["fewshot_keys"] for line in predictions.read_text().splitlines()]
    assert all(set(keys) <= train_keys for keys in shots)  # realidx-less rows: keyed by line
    with pytest.raises(SystemExit):  # argparse's choices
        main(["score", str(tiny_dir), "--softmax-dtype", "bf16"])


ROW: dict[str, Any] = {
    "checkpoint": "ba10", "step": 10, "tokens": 1000, "kind": "task", "task": "pubmedqa",
    "shots": 0, "n": 50, "acc": 0.5, "ci95": [0.4, 0.6], "random_baseline": 1 / 3,
    "majority_baseline": 0.55, "truncated": 0, "seconds": 1.0,
}  # fmt: skip


def rows_of_every_kind() -> list[dict[str, Any]]:
    """Rows written before protocols and gold_prob existed, new ones, and unknown kinds."""
    new = {**ROW, "checkpoint": "ba20", "step": 20, "tokens": 2000, "gold_prob": 0.4,
           "gold_prob_ci95": [0.35, 0.45], "gold_text_bpb": 3.5, "gold_text_bpb_ci95": [3.25, 3.75],
           "protocol": "lm-eval", "softmax_dtype": "model"}  # fmt: skip
    other = {"checkpoint": "ba20", "kind": "custom", "task": "pubmedqa_ft",
             "accuracy": 0.61, "epochs": 3, "split": "test", "history": [1, 2]}  # fmt: skip
    finetune = {"checkpoint": "ba20", "kind": "finetune", "task": "pubmedqa", "split": "test",
                "family": "classification", "metric": "acc", "value": 0.74, "ci95": [0.7, 0.78],
                "n": 500, "shots": None}  # fmt: skip
    return [ROW, new, other, finetune, {"kind": "average", "checkpoint": "ba20", "task": "average",
                                 "shots": None, "score": 0.1}]  # fmt: skip


def test_table_shows_unknown_kinds_generically_and_old_rows(tmp_path: Path) -> None:
    table = render_table(rows_of_every_kind())
    assert "| pubmedqa | 0 | 50 | 0.500 | 0.400–0.600 |  |  |  |  |" in table  # old row
    assert (
        "| pubmedqa | 0 | 50 | 0.500 | 0.400–0.600 | 0.400 | 0.350–0.450 | 3.500 | 3.250–3.750 |"
        in table
    )
    assert "| custom | pubmedqa_ft | accuracy 0.610, epochs 3, split test |" in table
    assert "| pubmedqa | classification | test | acc | 500 | 0.740 | 0.700–0.780 |" in table
    assert "log-softmax in model" in table


def test_plot_draws_both_metrics_with_their_intervals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.axes import Axes

    bands: list[tuple[list[float], list[float]]] = []
    original = Axes.fill_between

    def record(self: Axes, x: Any, low: Any, high: Any, **kwargs: Any) -> Any:
        bands.append((list(low), list(high)))
        return original(self, x, low, high, **kwargs)

    monkeypatch.setattr(Axes, "fill_between", record)
    plot_results(rows_of_every_kind(), tmp_path / "results.png")
    assert (tmp_path / "results.png").read_bytes().startswith(PNG_MAGIC)
    assert ([0.4, 0.4], [0.6, 0.6]) in bands  # accuracy's 95% interval at both checkpoints
    assert ([3.25], [3.75]) in bands  # gold bits per byte's, where a row has it
    assert ([0.35], [0.45]) not in bands  # gold_prob: in the rows and table, not the plot


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_results_honour_the_umask(tiny_dir: Path, tmp_path: Path, mask: int, mode: int) -> None:
    """mkstemp makes 0600 files: a group could not read shared results before."""
    import os
    import stat

    previous = os.umask(mask)
    try:
        score(tiny_dir, tmp_path / "a", "--tasks", "pubmedqa")
    finally:
        os.umask(previous)
    out = tmp_path / "a"
    written = [out / "results.jsonl", out / "results.md", out / "results.png"]
    written += sorted((out / "predictions").rglob("*.jsonl"))
    assert len(written) == 4
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in written} == {
        path.name: mode for path in written
    }
