"""How the paper's command fits the machine and decides what to do with each task.

The launcher and LoRA from the GPUs (one GPU: from its free memory against the full fine-tune's
estimate), refusal on CPU without --demo, and the state file's decisions: skip a task done,
resume one interrupted (as the machine began it), start anew one whose INIT or recipe changed,
saying so. Bad input is one line and exit status 2.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from biomedlm.recipe_kinds import load_recipe
from eval_gauntlet.__main__ import main
from eval_gauntlet.paper import run as paper_run
from eval_gauntlet.paper import tasks as paper_tasks
from eval_gauntlet.paper.machine import LORA, Machine, full_finetune_bytes, plan_launch
from eval_gauntlet.paper.run import PaperRun, context, run_paper
from eval_gauntlet.paper.spec import PaperError
from eval_gauntlet.paper.state import DONE, RUNNING, TaskState, read_state
from eval_gauntlet.paper.tasks import RAN, Context, Outcome, _prepare, _run
from tests.fixtures.paths import REPO

BIOMEDLM = json.loads((REPO / "biomedlm" / "architecture" / "config.json").read_text())
MEDQA = SimpleNamespace(  # recipes/finetune/medqa.yaml's sizes: 4 questions x 4 options x 512
    task="multiple_choice", data=SimpleNamespace(max_length=512), device_train_microbatch_size=4
)


def test_the_launcher_and_lora_follow_the_gpus_and_their_free_memory() -> None:
    need = full_finetune_bytes(BIOMEDLM, MEDQA)
    assert 40e9 < need < 50e9  # 16 bytes x 2.59B parameters, plus activations and logits
    eight = plan_launch(MEDQA, BIOMEDLM, Machine(8))
    assert eight.command[1:] == ["-n", "8", "-m", "biomedlm.train"] and eight.overrides == []
    roomy = plan_launch(MEDQA, BIOMEDLM, Machine(1, free=int(80e9)))
    assert roomy.overrides == [] and f"needs ~{need / 1e9:.1f} GB" in (roomy.note or "")
    small = plan_launch(MEDQA, BIOMEDLM, Machine(1, free=int(40e9)))
    assert small.overrides == LORA == ["model.lora={r: 16}", "optimizer.lr=2.0e-4"]
    assert (small.note or "").startswith("LoRA r=16") and "40.0 GB free" in (small.note or "")


def test_on_cpu_the_papers_recipes_are_refused_in_one_line_except_the_demo(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paper_run, "probe", lambda: Machine(0))
    with pytest.raises(PaperError, match=r"^no GPU here: .*make paper-demo") as caught:
        context(PaperRun(str(tiny_dir), Path("out")))
    assert "\n" not in str(caught.value)
    assert context(PaperRun(str(tiny_dir), Path("out"), demo=True)).machine.gpus == 0


def test_bad_input_is_one_line_and_status_2(
    tiny_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # never the network
    for argv, says in (
        (["paper", str(tmp_path / "nothing"), "--demo"], "no such model folder, checkpoint"),
        (["paper", "owner/not-cached", "--demo"], "huggingface-cli download owner/not-cached"),
        (["paper", str(tiny_dir), "--only", "medqa", "mmlu", "--demo"], "mmlu: not a task"),
    ):
        assert main([*argv, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "out").exists()


def _ctx(tmp_path: Path, init: str = "model-a") -> Context:
    return Context(init, {"init": init}, None, tmp_path, False, Machine(8), [])


def test_a_task_done_is_skipped_one_interrupted_resumes_and_a_change_starts_it_anew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    folder, ran = tmp_path / "medqa", {"optimizer": {"lr": 2e-5}}
    folder.mkdir()
    (folder / "checkpoints").mkdir()
    TaskState("medqa", DONE, {"init": "model-a"}, ran, launches=1).save(folder)
    assert _prepare("medqa", folder, ran, _ctx(tmp_path)) is None
    assert "medqa: done in an earlier launch (skipped" in caplog.text
    TaskState("medqa", RUNNING, {"init": "model-a"}, ran, launches=1).save(folder)
    again = _prepare("medqa", folder, ran, _ctx(tmp_path))
    assert again is not None and again.launches == 2 and (folder / "checkpoints").is_dir()
    assert "medqa: interrupted: resuming" in caplog.text
    changed = _prepare("medqa", folder, {"optimizer": {"lr": 1e-4}}, _ctx(tmp_path))
    assert changed is not None and changed.launches == 1 and not folder.exists()
    assert "medqa: recipe changed: optimizer.lr (2e-05 -> 0.0001): starting it anew" in caplog.text
    folder.mkdir()
    TaskState("medqa", DONE, {"init": "model-a"}, ran).save(folder)
    assert _prepare("medqa", folder, ran, _ctx(tmp_path, "model-b")) is not None
    assert "medqa: INIT changed (model-a -> model-b): starting it anew" in caplog.text
    assert read_state(folder) is None


@dataclass
class Launches:
    """PubMedQA's paper task with its launches recorded, not run, and the bytes its full
    fine-tune needs on a GPU."""

    launched: list[list[str]]
    need: int
    out: Path
    folder: Path


@pytest.fixture
def launches(workdir: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Launches:
    launched: list[list[str]] = []

    def launch(command: list[str], folder: Path, what: str) -> int:
        launched.append(command)
        return 0

    monkeypatch.setattr(paper_tasks, "_launch", launch)
    recipe = load_recipe("recipes/finetune/pubmedqa.yaml", [f"model.init_from={tiny_dir}"],
                         components=False)  # fmt: skip
    need = full_finetune_bytes(json.loads((tiny_dir / "config.json").read_text()), recipe)
    out, folder = workdir / "out", workdir / "out" / "pubmedqa"
    return Launches(launched, need, out, folder)


def test_a_relaunch_keeps_how_a_fine_tune_was_run_whatever_the_machine_says_now(
    launches: Launches,
    tiny_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Full fine-tuning, then a GPU a little busier: the finished task is skipped, its row saying
    how it ran; an unfinished one goes on as it began (not removed and trained again with LoRA)."""
    launched, need, out, folder = launches.launched, launches.need, launches.out, launches.folder

    def relaunch(machine: Machine) -> str:
        monkeypatch.setattr(paper_run, "probe", lambda: machine)
        run_paper(PaperRun(str(tiny_dir), out, only=["pubmedqa"]))
        rows = json.loads((out / "paper.json").read_text())["rows"]
        return next(r for r in rows if r["task"] == "pubmedqa")["differences"][-1]

    full = relaunch(Machine(1, need + 1))
    assert full.startswith("1 GPU: full fine-tuning") and len(launched) == 1
    assert relaunch(Machine(1, need - 1)) == full and relaunch(Machine(8)) == full
    assert len(launched) == 1  # skipped: not removed, not trained again with LoRA
    state = read_state(folder)
    assert state is not None and state.status == DONE
    state.status = RUNNING  # as if killed
    state.save(folder)
    caplog.set_level(logging.WARNING)
    assert relaunch(Machine(1, need - 1)) == full and folder.is_dir()
    assert len(launched) == 2 and not any("lora" in arg for arg in launched[-1])
    assert "pubmedqa: goes on as it was launched (1 GPU: full fine-tuning" in caplog.text


def test_a_state_file_that_does_not_record_the_machines_choice_keeps_the_plan_it_ran(
    launches: Launches, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state file written before the machine's overrides were recorded: a full fine-tune done
    is skipped on a busier GPU, not removed and trained again with LoRA; nor a LoRA one with room."""
    launched, need, out, folder = launches.launched, launches.need, launches.out, launches.folder

    def relaunch(machine: Machine) -> None:
        monkeypatch.setattr(paper_run, "probe", lambda: machine)
        run_paper(PaperRun(str(tiny_dir), out, only=["pubmedqa"]))

    for first, then in ((need + 1, need - 1), (need - 1, need + 1)):  # full, then LoRA
        relaunch(Machine(1, first))
        state = read_state(folder)
        assert state is not None and state.status == DONE
        state.machine = None  # as written before it was recorded
        state.save(folder)
        relaunch(Machine(1, then))
        assert len(launched) == 1 and read_state(folder) is not None
        shutil.rmtree(out)
        launched.clear()


def test_a_failed_task_names_the_error_of_its_last_launch(tmp_path: Path) -> None:
    """Not an ``error:`` line an earlier launch left in the same, appended log."""
    folder = tmp_path / "medqa"

    def launch(script: str) -> str:
        state = TaskState("medqa", RUNNING, {}, {}, command=["sh", "-c", script])
        return _run(Outcome("medqa", RAN, ""), state, folder, "fine-tuning").line

    assert launch("echo 'error: line 3: no answer_idx'; exit 2").startswith("error: line 3")
    again = launch("echo 'error: before'; echo 'torch.OutOfMemoryError: CUDA'; exit 1")
    assert again.startswith("error: before (exit 1")  # this launch's own error line
    assert launch("echo Traceback; echo 'torch.OutOfMemoryError: CUDA'; exit 1").startswith(
        "torch.OutOfMemoryError: CUDA (exit 1"
    )
