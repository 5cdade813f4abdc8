"""The paper's table: every row of the paper file, published numbers read from it, a task
without its data a "not run" row naming the file, values and examples read from the results.

No training here: the tasks selected lack their data (a working directory holds the recipes,
the shipped benchmark files and PubMedQA only), or the results are written by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from eval_gauntlet.paper.report import write_report
from eval_gauntlet.paper.run import PaperRun, run_paper
from eval_gauntlet.paper.spec import PAPER_FILE, load_paper
from eval_gauntlet.paper.tasks import NOT_SELECTED, RAN, Outcome
from eval_gauntlet.rows import (
    RESULTS,
    Checkpoint,
    MetricValue,
    append_rows,
    finetune_rows,
    predictions_path,
    result_row,
)

MISSING = ["medmcqa", "medqa", "bioasq"]  # their data is never shipped


def test_every_row_is_in_the_table_and_a_task_without_data_names_the_file_to_bring(
    workdir: Path, tiny_dir: Path
) -> None:
    out = workdir / "out"
    assert run_paper(PaperRun(str(tiny_dir), out, only=MISSING)) == 0
    table = json.loads((out / "paper.json").read_text())
    page = (out / "paper.md").read_text()
    paper = yaml.safe_load(PAPER_FILE.read_text())
    expected = [(name, row["name"], row.get("published"))
                for name, task in paper["tasks"].items() for row in task["rows"]]  # fmt: skip
    assert [(r["task"], r["name"], r["published"]) for r in table["rows"]] == expected
    assert len(expected) == 11 and all(name in page for _, name, _ in expected)
    for row in table["rows"]:
        if row["task"] in MISSING:
            assert row["status"].startswith(f"not run: bring data/finetune/{row['task']}/")
            assert row["value"] is None
        else:
            assert row["status"] == "not selected"
    medmcqa = next(r for r in table["rows"] if r["task"] == "medmcqa")
    assert "data/finetune/medmcqa/train.json (MedMCQA's release" in medmcqa["status"]
    assert "data/finetune/medmcqa/dev.json" in medmcqa["status"] and "cop" in medmcqa["status"]
    assert (out / "paper.png").stat().st_size > 0
    assert not (out / "medmcqa").exists()  # nothing launched, nothing written for it


def test_the_published_numbers_are_the_paper_files(workdir: Path, tiny_dir: Path) -> None:
    edited = yaml.safe_load(PAPER_FILE.read_text())
    edited["tasks"]["medmcqa"]["rows"][0].update(published=12.3, name="MedMCQA (edited)")
    path = workdir / "paper.yaml"
    path.write_text(yaml.safe_dump(edited, sort_keys=False))
    out = workdir / "out"
    assert run_paper(PaperRun(str(tiny_dir), out, only=["medmcqa"]), load_paper(path)) == 0
    row = json.loads((out / "paper.json").read_text())["rows"][1]
    assert (row["name"], row["published"]) == ("MedMCQA (edited)", 12.3)
    assert "| MedMCQA (edited) | 12.3 |" in (out / "paper.md").read_text()


def _choice_results(out: Path, n_right: int, n_wrong: int) -> None:
    rows = finetune_rows(Checkpoint("pubmedqa-run", 10), task="pubmedqa", family="classification",
                         split="test", n=8, metrics=[MetricValue("acc", 0.375, 0.25, 0.5)])  # fmt: skip
    append_rows(out / RESULTS, rows)
    lines = [{"question": f"question {i}?", "options": ["yes", "no", "maybe"], "gold": 0,
              "pred": 0 if i < n_right else 1, "correct": i < n_right}
             for i in range(n_right + n_wrong)]  # fmt: skip
    path = predictions_path(out, Checkpoint("pubmedqa-run"), "pubmedqa.test.jsonl")
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_values_come_from_the_results_on_the_papers_scale_with_examples_to_check(
    tmp_path: Path,
) -> None:
    paper = load_paper()
    outcomes = {name: Outcome(name, NOT_SELECTED, "") for name in paper.tasks}
    _choice_results(tmp_path / "pubmedqa", n_right=7, n_wrong=6)
    outcomes["pubmedqa"] = Outcome("pubmedqa", RAN, "", tmp_path / "pubmedqa", "pubmedqa-run")
    generation = finetune_rows(Checkpoint("meqsum-run"), task="meqsum", family="generation",
                               split="test", n=4, metrics=[MetricValue("rougeL", 31.2, 20.0, 40.5,
                               scale=100)])  # fmt: skip
    append_rows(tmp_path / "meqsum" / RESULTS, generation)
    outcomes["meqsum"] = Outcome("meqsum", RAN, "", tmp_path / "meqsum", "meqsum-run")
    header = {"init": "INIT", "about": {"INIT": "INIT"}}
    entries = {e["task"]: e for e in write_report(tmp_path, paper, outcomes, header, demo=False)}
    assert entries["pubmedqa"]["value"] == 37.5 and entries["pubmedqa"]["ci95"] == [25.0, 50.0]
    assert entries["pubmedqa"]["n"] == 8 and entries["pubmedqa"]["status"] == "run"
    assert entries["meqsum"]["value"] == 31.2 and entries["meqsum"]["ci95"] == [20.0, 40.5]
    page = (tmp_path / "paper.md").read_text()
    assert "| PubMedQA (test) | 74.4 | 37.5 (25.0–50.0) | 8 | run |" in page
    assert "| MeQSum summaries, ROUGE-L | no number | 31.2 (20.0–40.5) | 4 | run |" in page
    examples = page.split("### pubmedqa")[1]
    assert "Right (5)" in examples and "Wrong (5)" in examples
    assert "question 4?" in examples and "question 5?" not in examples  # the first 5 of each
    assert "question 7?" in examples and "gold (A) yes; predicted (B) no" in examples


def test_the_gauntlet_row_reads_the_gauntlet_average(tmp_path: Path) -> None:
    paper = load_paper()
    outcomes = {name: Outcome(name, NOT_SELECTED, "") for name in paper.tasks}
    rows = [result_row(Checkpoint("init"), "average", "average", shots=shots, score=value)
            for shots, value in ((None, 0.25), (0, 0.5))]  # fmt: skip
    append_rows(tmp_path / "gauntlet" / RESULTS, rows)
    outcomes["gauntlet"] = Outcome("gauntlet", RAN, "", tmp_path / "gauntlet", "init")
    header = {"init": "INIT", "about": {}}
    entries = {e["task"]: e for e in write_report(tmp_path, paper, outcomes, header, demo=False)}
    assert entries["gauntlet"]["value"] == 25.0  # each task's shot counts, not one --shots
    assert entries["gauntlet"]["predictions"] is None


def test_a_demo_row_is_read_under_its_demo_recipes_task_name(tmp_path: Path) -> None:
    """medqa-debug-cpu.yaml names its rows ``medqa_heldout`` (a held-out part, not MedQA's test)."""
    paper = load_paper()
    outcomes = {name: Outcome(name, NOT_SELECTED, "") for name in paper.tasks}
    rows = finetune_rows(Checkpoint("medqa-debug-cpu"), task="medqa_heldout",
                         family="multiple_choice", split="test", n=8,
                         metrics=[MetricValue("acc", 0.25, 0.0, 0.5)])  # fmt: skip
    append_rows(tmp_path / "medqa" / RESULTS, rows)
    outcomes["medqa"] = Outcome("medqa", RAN, "", tmp_path / "medqa", "medqa-debug-cpu")
    header = {"init": "INIT", "about": {}}
    entries = {e["task"]: e for e in write_report(tmp_path, paper, outcomes, header, demo=True)}
    assert entries["medqa"]["value"] == 25.0
    assert entries["medqa"]["status"] == "run: plumbing (debug model, slices)"
