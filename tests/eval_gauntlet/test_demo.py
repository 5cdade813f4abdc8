"""``make demo``'s driver: stages run with their output in logs, and the one screen it ends on."""

from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path

import pytest

from biomedlm.generate import NOT_MEDICAL_ADVICE
from biomedlm.known_warnings import silence_known_warnings
from eval_gauntlet.demo.__main__ import demo
from eval_gauntlet.demo.runner import Stage
from eval_gauntlet.demo.screen import WHAT_IT_SHOWS
from eval_gauntlet.rows import FINETUNE, RESULTS, Checkpoint, append_rows, result_row

REPO = Path(__file__).resolve().parents[2]
KNOWN = "Cannot split tensor of length 9 into batches of size 16. As it is smaller, no splitting"
NEW = "a warning nobody has filtered"
# a stage whose entry point silences the known warnings, then meets a known one and a new one
WARNS = f"""
import warnings
from biomedlm.known_warnings import silence_known_warnings
silence_known_warnings()
warnings.warn_explicit({KNOWN!r}, UserWarning, "data_spec.py", 40, module="composer.core.data_spec")
warnings.warn({NEW!r}, UserWarning)
"""
TYPES = ["treatment", "symptoms", "causes"]


def _python(*args: str) -> tuple[str, ...]:
    return (sys.executable, *args)


def _warns() -> Stage:
    return Stage("warns", "meet two warnings", _python("-c", WARNS), "nothing")


def _check_screen(console: str, run: Path, eval_dir: Path, labels: list[str]) -> None:
    """Every part of the end screen is there, once, in under 80 lines; the new warning shown."""
    lines = console.splitlines()
    assert len(lines) < 80, console
    assert f"log {run / 'logs' / 'warns.log'}" in console
    assert (run / "logs" / "warns.log").read_text().startswith("$ ")
    assert sum(line.startswith("Results (") for line in lines) == 1
    header = next(line.split() for line in lines if line.startswith("  in-context accuracy"))
    assert header[2:] == ["shots", "chance", *labels]
    assert any(line.split()[:3] == ["medqa_4options", "0", "0.250"] for line in lines)
    assert any(line.split()[:3] == ["qa", "generation", "rougeL"] for line in lines)
    assert f"plot: {eval_dir / 'results.png'}" in lines
    assert NOT_MEDICAL_ADVICE in lines
    numbered = [n for n in range(1, 5) if any(x.startswith(f"  {n}. ") for x in lines)]
    assert numbered == [1, 2, 3]
    assert sum(x.strip().startswith("reference: Condition") for x in lines) == 3
    assert " ".join(WHAT_IT_SHOWS.split()) in " ".join(console.split())
    assert "Next:" in lines and "make paper-demo" in console
    assert f"UserWarning: {NEW}" in console  # a new warning still shows, under its stage
    assert "Warning: Cannot split" not in console + (run / "logs" / "warns.log").read_text()


def _results(eval_dir: Path) -> None:
    """What the demo's stages record, written directly: in-context rows of two checkpoints, a
    group and the average; a classification and a generation fine-tune with its answers."""
    rows = []
    for step in (20, 40):
        at = Checkpoint(f"ep0-ba{step}-rank0", step, step * 2048)
        rows += [
            result_row(at, "task", "medqa_4options", shots=0, acc=0.35, random_baseline=0.25),
            result_row(at, "task", "mmlu_anatomy", shots=0, acc=0.23, random_baseline=0.25),
            result_row(at, "group", "mmlu_medical", shots=0, acc=0.23, random_baseline=0.25,
                       members=["mmlu_anatomy"]),
            result_row(at, "average", "average", shots=None, score=0.027),
        ]  # fmt: skip
    predictions = eval_dir / "predictions" / "qa.test.jsonl"
    predictions.parent.mkdir(parents=True)
    predictions.write_text("".join(
        json.dumps({"id": f"q{i}", "qtype": TYPES[i % 3], "source": f"What is condition {i} ?",
                    "reference": f"Condition {i} is a disorder.", "generated": "the the the"})
        + "\n" for i in range(6)
    ))  # fmt: skip
    tuned = Checkpoint("ft-ba40", 40, None)
    rows += [
        result_row(tuned, FINETUNE, "pubmedqa", shots=None, split="test", family="classification",
                   metric="acc", value=0.55, ci95=[0.5, 0.6], n=500, random_baseline=1 / 3),
        *(result_row(tuned, FINETUNE, "qa", shots=None, split="test", family="generation",
                     metric=metric, value=1.5, ci95=[1.0, 2.0], n=6, scale=100.0,
                     predictions=str(predictions)) for metric in ("rougeL", "words_generated")),
    ]  # fmt: skip
    append_rows(eval_dir / RESULTS, rows)


def test_the_demo_ends_on_one_screen_of_what_its_stages_recorded(tmp_path: Path) -> None:
    eval_dir, run = tmp_path / "eval", tmp_path / "run"
    _results(eval_dir)
    console = io.StringIO()
    assert demo([_warns()], run, eval_dir, console, verbose=False) == 0
    _check_screen(console.getvalue(), run, eval_dir, ["ba20", "ba40"])
    assert "words_generated" not in console.getvalue()  # lengths stay in results.md
    assert "mmlu_anatomy" not in console.getvalue()  # a group's members: its one line


def test_a_failing_stage_shows_the_end_of_its_log_and_stops_the_demo(tmp_path: Path) -> None:
    fails = "import sys\nfor i in range(30): print('line', i)\nsys.exit(3)"
    stages = [
        Stage("first", "fail", _python("-c", fails), "nothing"),
        Stage("second", "never run", _python("-c", "open('ran', 'w')"), "nothing"),
    ]
    console = io.StringIO()
    assert demo(stages, tmp_path / "run", tmp_path / "eval", console, verbose=False) == 3
    out = console.getvalue()
    log = tmp_path / "run" / "logs" / "first.log"
    assert "[1/2] first: FAILED (exit status 3) after" in out and f"log {log}" in out
    assert "| line 29" in out and "| line 10" in out and "| line 9\n" not in out  # the last 20
    assert "second" not in out and not (tmp_path / "ran").exists()


def test_known_warnings_are_silenced_by_message_and_module_only() -> None:
    """A known message from its own module is silenced; from another module, or a new message
    from that module, it still shows."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_warnings()
        for message, module in ((KNOWN, "composer.core.data_spec"),
                                (KNOWN, "my_project.data"),
                                ("Cannot read the batch", "composer.core.data_spec")):  # fmt: skip
            warnings.warn_explicit(message, UserWarning, "x.py", 1, module=module)
    assert [str(w.message) for w in caught] == [KNOWN, "Cannot read the batch"]


@pytest.mark.slow
def test_the_demo_runs_its_stages_and_ends_on_one_screen(tiny_dir: Path, tmp_path: Path) -> None:
    """The demo's quick equivalent through the driver (the tiny model, a few items): in-context
    scores, a generation fine-tune's scores and answers, and a stage that warns."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(
        json.dumps({"id": f"q{i}", "prompt": f"What is condition {i} ?",
                    "response": f"Condition {i} is a disorder.", "qtype": TYPES[i % 3]}) + "\n"
        for i in range(20)
    ))  # fmt: skip
    run, eval_dir = tmp_path / "run", tmp_path / "run" / "eval"
    stages = [
        Stage("eval", "score in context", _python(
            "-m", "eval_gauntlet", "score", str(tiny_dir), "--out", str(eval_dir), "--name", "ba2",
            "--step", "2", "--tasks", "medqa_4options", "--limit", "3", "--shots", "0",
        ), "in-context rows"),
        Stage("finetune-patient-qa", "answer questions", _python(
            "-m", "eval_gauntlet", "finetuned", str(tiny_dir),
            str(REPO / "recipes/finetune/patient-qa-debug-cpu.yaml"), f"run_dir={run / 'qa'}",
            "data.format=jsonl", f"data.train=[{qa}]", "data.split={validation: 0.0, test: 0.3, seed: 0}",
            "data.test_limit=4", "eval.decoding.max_new_tokens=4", "eval.bootstrap_iters=20",
            f"eval.out={eval_dir}",
        ), "answers"),
        _warns(),
    ]  # fmt: skip
    console = io.StringIO()
    assert demo(stages, run, eval_dir, console, verbose=False) == 0
    out = console.getvalue()
    assert [line.split(":")[0] for line in out.splitlines() if " done in " in line] == [
        "[1/3] eval", "[2/3] finetune-patient-qa", "[3/3] warns"]  # fmt: skip
    _check_screen(out, run, eval_dir, ["ba2"])
    assert (eval_dir / "results.png").is_file()
