"""``python -m eval_gauntlet score`` end to end on the tiny model, and its results files."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from eval_gauntlet.__main__ import main
from eval_gauntlet.errors import GauntletError
from eval_gauntlet.rows import read_rows
from eval_gauntlet.table import render_table
from tests.fixtures.models import tiny_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def score(model_dir: Path, out: Path, *extra: str) -> int:
    return main(
        ["score", str(model_dir), "--out", str(out), "--no-progress", "--device", "cpu", *extra]
    )


def test_score_writes_results_table_plot_and_predictions(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ("--tasks", "medqa_4options", "mmlu_medical", "--limit", "4", "--shots", "1")
    assert score(tiny_dir, out, *args, "--name", "ckpt-a", "--step", "100", "--tokens", "1000") == 0
    rows = read_rows(out / "results.jsonl")
    tasks = [r for r in rows if r["kind"] == "task"]
    assert [(r["task"], r["shots"], r["n"]) for r in tasks] == [
        ("medqa_4options", 1, 4),
        *((f"mmlu_{s}", 1, 4) for s in ("anatomy", "clinical_knowledge", "college_biology",
                                         "college_medicine", "medical_genetics", "professional_medicine")),
    ]  # fmt: skip
    first = tasks[0]
    assert first["checkpoint"] == "ckpt-a" and first["step"] == 100 and first["tokens"] == 1000
    assert {
        "acc",
        "acc_norm",
        "ci95",
        "seconds",
        "random_baseline",
        "majority_baseline",
    } <= first.keys()
    (group,) = [r for r in rows if r["kind"] == "group"]
    assert group["task"] == "mmlu_medical" and group["n"] == 24
    assert group["acc"] == pytest.approx(sum(r["acc"] for r in tasks[1:]) / 6)
    gauntlet = {r["task"]: r["score"] for r in rows if r["kind"] in ("category", "average")}
    assert set(gauntlet) == {"clinical_reasoning", "medical_knowledge", "average"}  # no pubmedqa

    predictions = out / "predictions" / "ckpt-a" / "medqa_4options.1shot.jsonl"
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(lines) == 4 and all(len(line["fewshot_keys"]) == 1 for line in lines)
    assert sum(line["correct"] for line in lines) / 4 == first["acc"]
    assert (out / "results.png").read_bytes().startswith(PNG_MAGIC)
    table = (out / "results.md").read_text()
    assert (
        "## ckpt-a (step 100, tokens 1,000)" in table
        and "| **mmlu_medical** (all) | 1 | 24 |" in table
    )

    # a second checkpoint appends; the table and the plot show both
    assert score(tiny_dir, out, *args, "--name", "ckpt-b", "--step", "200", "--tokens", "2000") == 0
    rows_after = read_rows(out / "results.jsonl")
    assert rows_after[: len(rows)] == rows and len(rows_after) == 2 * len(rows)
    assert "## ckpt-b (step 200, tokens 2,000)" in (out / "results.md").read_text()
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary files left


def test_zero_shot_and_default_shots(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert score(tiny_dir, out, "--tasks", "pubmedqa", "--limit", "3") == 0
    rows = read_rows(out / "results.jsonl")
    assert [(r["task"], r["shots"]) for r in rows if r["kind"] == "task"] == [
        ("pubmedqa", 0),
        ("pubmedqa", 1),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tasks", "medqa"), "error: unknown task 'medqa'. Did you mean 'medqa_4options'?"),
        (("--limit", "0"), "error: --limit must be >= 1"),
        (
            ("--samples", '{"pubmedqa": [1]}', "--limit", "3"),
            "error: --samples names the items to score: drop --limit",
        ),
        (
            ("--limit", "50", "--sample", "10"),
            "error: --sample draws from every item: drop --limit",
        ),
        (
            ("--samples", '{"pubmedqa": [499, 500]}', "--tasks", "pubmedqa"),
            "error: --samples pubmedqa: index 500 is not an item of the task (500 items: 0..499)",
        ),
        (
            ("--samples", '{"mmlu_medical": [1]}'),
            'error: --samples {"mmlu_medical": [1]}: '
            "'mmlu_medical' is a group; name its tasks (lm-eval's --samples names tasks): mmlu_anatomy",
        ),
        (
            ("--samples", '{"pubmedqa": [1]}', "--tasks", "medqa_4options"),
            "error: --samples {\"pubmedqa\": [1]}: task 'pubmedqa' is not among the tasks scored",
        ),
        (
            ("--samples", '{"pubmedqa": [1.5]}'),
            'error: --samples {"pubmedqa": [1.5]}: pubmedqa: '
            "expected a non-empty list of item indices",
        ),
        (("--samples", "{pubmedqa: [1]}"), "error: --samples {pubmedqa: [1]}: not JSON"),
        (
            ("--samples", "missing.json"),
            "error: --samples missing.json: neither a JSON object nor "
            "a readable file (No such file or directory)",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(
    tiny_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    out = tmp_path / "eval"
    assert score(tiny_dir, out, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not out.exists()


def test_mismatched_tokenizer_fails_before_writing(
    tokenizer_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tiny_model(tmp_path / "bad", tokenizer_dir, vocab_size=500)
    out = tmp_path / "eval"
    assert score(model_dir, out, "--tasks", "pubmedqa", "--limit", "2") == 2
    err = capsys.readouterr().err
    assert "tokenizer has 1000 tokens but the model's embedding has 500 rows" in err
    assert err.count("\n") == 1 and not out.exists()


def test_bad_data_fails_before_the_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.jsonl").write_text(
        '{"question": "q", "options": {"A": "x", "B": "y"}, "answer_idx": "C"}\n'
    )
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(
        "tasks:\n  t:\n    data: d.jsonl\n    format: lettered\n    random_baseline: 0.5\n    category: c\n"
    )
    out = tmp_path / "eval"
    assert score(tmp_path / "no-model-here", out, "--tasks-file", str(tasks)) == 2
    assert "d.jsonl:1: answer_idx 'C' is not among the options A, B" in capsys.readouterr().err
    assert not out.exists()


def test_corrupt_results_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"kind": "task"}\n{"kind": \n')
    with pytest.raises(GauntletError, match=rf"^{path}:2: invalid JSON"):
        read_rows(path)
    path.write_text('{"kind": "task"}\n[1, 2]\n')  # valid JSON, no row: not a traceback later
    with pytest.raises(GauntletError, match=rf"^{path}:2: a result row is a JSON object, not list"):
        read_rows(path)


def test_table_keeps_the_latest_row_per_benchmark() -> None:
    base = {"checkpoint": "c", "step": 1, "tokens": None, "kind": "task", "task": "t", "shots": 0, "n": 5,
            "acc": 0.2, "acc_norm": 0.2, "ci95": [0.0, 0.4], "random_baseline": 0.25,
            "majority_baseline": 0.4, "truncated": 0, "seconds": 1.0}  # fmt: skip
    table = render_table([base, {**base, "acc": 0.6}])
    assert table.count("| t | 0 |") == 1 and "| t | 0 | 5 | 0.600 |" in table


def export_folder(tmp_path: Path, tiny_dir: Path, steps: list[int]) -> Path:
    """``hf_checkpointer``'s exports ``ba<step>`` of the tiny model, written a minute ago."""
    folder = tmp_path / "hf" / "huggingface"
    for step in steps:
        shutil.copytree(tiny_dir, folder / f"ba{step}")
        old = time.time() - 60
        for f in [*(folder / f"ba{step}").iterdir(), folder / f"ba{step}"]:
            os.utime(f, (old, old))
    return folder


def test_one_export_gets_its_step_and_tokens_as_in_its_folder(
    tiny_dir: Path, tmp_path: Path
) -> None:
    folder = export_folder(tmp_path, tiny_dir, [5])
    args = ("--tasks", "pubmedqa", "--limit", "2", "--shots", "0", "--tokens-per-step", "100")
    for path, out in ((folder / "ba5", tmp_path / "one"), (folder, tmp_path / "folder")):
        assert score(path, out, *args) == 0
        (row, *_) = read_rows(out / "results.jsonl")
        assert (row["checkpoint"], row["step"], row["tokens"]) == ("ba5", 5, 500)


def test_a_partial_rescore_keeps_the_whole_average(tiny_dir: Path, tmp_path: Path) -> None:
    out, args = tmp_path / "eval", ("--limit", "4", "--shots", "0")
    assert score(tiny_dir, out, "--tasks", "medqa_4options", "pubmedqa", *args) == 0
    assert score(tiny_dir, out, "--tasks", "pubmedqa", *args) == 0
    assert score(tiny_dir, out, "--tasks", "pubmedqa", "--limit", "4", "--shots", "1") == 0
    rows = [r for r in read_rows(out / "results.jsonl") if r["kind"] in ("category", "average")]
    first, again, one_shot = rows[:3], rows[3:6], rows[6:]
    assert [(r["task"], r["score"]) for r in again] == [(r["task"], r["score"]) for r in first]
    assert {r["shots"] for r in first + again} == {0}
    assert first[2]["score"] != first[1]["score"]  # pubmedqa's category alone is not the average
    assert [r["task"] for r in one_shot] == ["biomedical_literature", "average"]
    table = (out / "results.md").read_text()
    assert "| average (0-shot) |" in table and "| average (1-shot) |" in table


def test_a_rescore_counts_only_rows_scored_the_same_way(tiny_dir: Path, tmp_path: Path) -> None:
    """A 2-item medqa row beside a 6-item pubmedqa re-score: counted, it made a category that
    read as scored whole, and an average labelled with the re-score's subset alone."""
    out = tmp_path / "eval"
    assert score(tiny_dir, out, "--tasks", "medqa_4options", "pubmedqa", "--limit", "2") == 0
    first = [r["task"] for r in read_rows(out / "results.jsonl") if r["kind"] == "category"]
    assert score(tiny_dir, out, "--tasks", "pubmedqa", "--limit", "6") == 0
    rows = read_rows(out / "results.jsonl")
    again = [r for r in rows[rows.index(next(r for r in rows if r.get("subset") == {"limit": 6})):]
             if r["kind"] in ("category", "average")]  # fmt: skip
    assert len(first) == 2 and [r["task"] for r in again] == ["biomedical_literature", "average"]
    assert {str(r["subset"]) for r in again} == {"{'limit': 6}"}


def test_a_truncated_export_between_two_good_ones_is_skipped_and_counted(
    tiny_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = export_folder(tmp_path, tiny_dir, [10, 20, 30])
    weights = folder / "ba20" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # the disk filled up mid-export
    os.utime(weights, (time.time() - 60,) * 2)
    out = tmp_path / "eval"
    assert score(folder, out, "--tasks", "pubmedqa", "--limit", "2", "--shots", "0") == 3
    scored = [r["checkpoint"] for r in read_rows(out / "results.jsonl") if r["kind"] == "average"]
    assert scored == ["ba10", "ba30"]
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert line.startswith(
        f"error: {folder / 'ba20'}: an incomplete model folder (model.safetensors is cut off"
    )
    assert "\n" not in line


def test_an_export_without_its_tokenizer_is_one_line(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "ba10"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):  # no vocabulary
        shutil.copy(tiny_dir / name, bare)
    assert score(bare, tmp_path / "eval", "--tasks", "pubmedqa", "--limit", "2") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bare}: cannot load") and err.count("\n") == 1


def test_a_partial_last_results_line_is_dropped_and_never_blocks(
    tiny_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "eval"
    args = ("--tasks", "pubmedqa", "--limit", "2", "--shots", "0")
    assert score(tiny_dir, out, *args, "--name", "a") == 0
    whole = (out / "results.jsonl").read_text()
    (out / "results.jsonl").write_text(whole + '{"checkpoint": "b", "kind": "ta')  # killed mid-line
    assert [r["checkpoint"] for r in read_rows(out / "results.jsonl")] == ["a"] * 3
    assert score(tiny_dir, out, *args, "--name", "b") == 0
    rows = read_rows(out / "results.jsonl")
    assert (out / "results.jsonl").read_text().startswith(whole) and len(rows) == 6
    assert [r["checkpoint"] for r in rows[3:]] == ["b"] * 3
    assert any("dropped a partial last line" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("case", ["device", "out"])
def test_device_and_output_folder_are_checked_before_any_model_loads(
    case: str,
    tiny_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import eval_gauntlet.scoring

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(eval_gauntlet.scoring, "load_checkpoint", never)
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "eval" / "deep"
    if case == "device":
        monkeypatch.setattr("torch.cuda.is_available", lambda: False)
        extra, message = (
            ["--device", "cuda"],
            "error: --device cuda: this machine has 0 visible CUDA",
        )
    else:  # a file where a folder must be: as unwritable as a read-only disk, also for root
        out = tmp_path / "a-file" / "eval"
        extra, message = [], f"error: --out {out}: results cannot be written there"
    args = ["score", str(tiny_dir), "--out", str(out), "--no-progress", "--tasks", "pubmedqa"]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "eval").exists()  # nothing left behind
