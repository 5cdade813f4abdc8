"""Fine-tuning runs end to end as users launch them, on the shipped real data, with the tiny model.

- every family (``medqa-debug-cpu``, ``pubmedqa-debug-cpu``, ``patient-qa-debug-cpu``), full
  and LoRA: kill -9 after the first checkpoint and relaunch gives the uninterrupted run's
  losses and export, bit for bit; a LoRA run's Composer checkpoint scores as its export;
- classification (``pubmedqa-debug-cpu``) through the learning-rate sweep: one run per value,
  every run's rows in one results table; a saved export and checkpoint, scored later by
  ``python -m eval_gauntlet finetuned``, give the after-fit predictions;
- two processes with FSDP2 (the GPU recipes' FSDP settings): the after-fit scores, from both
  ranks' forward passes, are the single-process scores of the run's export and shards;
- a crash after the last checkpoint (in the after-fit scoring, the export cut off): the relaunch
  completes the export and the scores from the checkpoint, without training.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.fixtures.paths import REPO
from tests.fixtures.runs import composer, losses

TRAIN = [sys.executable, "-m", "biomedlm.train"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def command(
    recipe: str, out: Path, init: Path, *overrides: str, launcher: list[str] = TRAIN
) -> list[str]:
    return [
        *launcher,
        f"recipes/finetune/{recipe}.yaml",
        f"model.init_from={init}",
        f"run_dir={out / 'run'}",
        f"save_folder={out / 'ckpt'}",
        f"eval.out={out / 'eval'}",
        "progress_bar=false",
        "log_to_console=true",
        "console_log_interval=1ba",
        *overrides,
    ]


def run(cmd: list[str], env: dict[str, str] = ENV) -> str:
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=400)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


def score_later(
    checkpoint: Path, recipe: str, init: Path, test_limit: int, out: Path, *overrides: str
) -> None:
    """``python -m eval_gauntlet finetuned`` on a saved export or checkpoint, in the repository."""
    from eval_gauntlet.__main__ import main

    args = [
        "finetuned", str(checkpoint), f"recipes/finetune/{recipe}.yaml",
        f"model.init_from={init}", f"data.test_limit={test_limit}", f"eval.out={out}", *overrides,
    ]  # fmt: skip
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        assert main(args) == 0
    finally:
        os.chdir(cwd)


def predictions(eval_dir: Path, name: str, task: str) -> list[dict[str, object]]:
    path = eval_dir / "predictions" / name / f"{task}.test.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


RECIPES = {
    "multiple_choice": "medqa-debug-cpu",
    "classification": "pubmedqa-debug-cpu",
    "generation": "patient-qa-debug-cpu",
}
RESUMABLE = [
    "model.dropout=0.1",  # the RNG matters: dropout, shuffled data, a mid-epoch resume
    "data.train_limit=96",  # 6 or 7 batches an epoch: killed and resumed mid-epoch
    "max_duration=6ba",
    "save_interval=3ba",  # the warmup's first two steps have learning rate 0: nothing moves
    "eval_interval=1000ba",
    "eval_subset_num_batches=1",
    "eval.test_after_fit=false",
    "callbacks.loss_curve.interval=1",
    "callbacks.finetune_export.save_interval=1dur",
]


LATER = ["model.lora={r: 4, alpha: 8}", "eval.bootstrap_iters=10", "eval.decoding.strategy=greedy",
         "eval.decoding.max_new_tokens=4"]  # fmt: skip


def launch(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(
            cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=ENV, start_new_session=True
        )


def exported(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "run" / "hf" / "huggingface" / "ba6" / "model.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("task", list(RECIPES))
def test_kill_and_relaunch_is_bitwise_identical(
    task: str, lora: bool, tiny_dir: Path, tmp_path: Path
) -> None:
    """kill -9 after the first checkpoint, relaunch: the uninterrupted run's losses and export.

    The uninterrupted run goes alongside the one killed (one core each). Under LoRA the
    checkpoints must hold what trains beside the adapters (the task head, the added tokens'
    rows): a row left out restarts from its initial value on the relaunch.
    """
    from biomedlm.callbacks.loss_curve import read_rows

    extra = [*RESUMABLE, *(["model.lora={r: 4, alpha: 8}"] if lora else [])]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    procs = [
        launch(command(RECIPES[task], d, tiny_dir, *extra), tmp_path / f"{d.name}.log")
        for d in (straight, killed)
    ]
    deadline = time.time() + 300
    while not (killed / "ckpt" / "latest-rank0.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(procs[1].pid, signal.SIGKILL)
    assert [p.wait() for p in procs] == [0, -signal.SIGKILL], (
        straight.parent / "straight.log"
    ).read_text()[-3000:]
    assert not list((killed / "ckpt").glob("*-ba6-rank0.pt")), "finished before it was killed"
    resumed = losses(run(command(RECIPES[task], killed, tiny_dir, *extra)))
    assert 0 < len(resumed) < 6
    rows = [read_rows(d / "run" / "loss.csv") for d in (straight, killed)]
    assert [r["step"] for r in rows[1] if r["split"] == "train"] == [str(i) for i in range(1, 7)]
    assert rows[1] == rows[0]  # every batch's loss to 6 decimals, across the kill
    ours, theirs = exported(straight), exported(killed)
    assert ours.keys() == theirs.keys()
    assert [k for k in ours if not torch.equal(ours[k], theirs[k])] == []
    if lora:  # the Composer checkpoint scores later as the (merged) export does
        scored = []
        for saved in (
            killed / "ckpt" / "ep0-ba6-rank0.pt",
            killed / "run" / "hf" / "huggingface" / "ba6",
        ):
            later = tmp_path / f"later-{saved.name}"
            score_later(saved, RECIPES[task], tiny_dir, 4, later, *LATER)
            (found,) = (later / "predictions").glob("*/*.test.jsonl")
            scored.append([json.loads(line) for line in found.read_text().splitlines()])
        assert len(scored[0]) == len(scored[1]) == 4
        for a, b in zip(*scored, strict=True):  # merged adapters: the same up to rounding
            assert a.pop("scores", 0) == pytest.approx(b.pop("scores", 0), abs=1e-5) and a == b


@pytest.mark.slow
def test_classification_sweep_and_later_scoring_of_its_export_and_checkpoint(
    tiny_dir: Path, tmp_path: Path
) -> None:
    overrides = [
        "data.train_limit=32",
        "data.test_limit=40",
        "max_duration=2ba",
        "eval_interval=2ba",
    ]
    sweep = [
        sys.executable, "-m", "biomedlm.finetune.sweep", "recipes/finetune/pubmedqa-debug-cpu.yaml",
        f"model.init_from={tiny_dir}", *overrides, "--lrs", "1e-3", "3e-3", "--root", str(tmp_path),
    ]  # fmt: skip
    output = run(sweep)
    folder = tmp_path / "pubmedqa-debug-cpu-sweep"
    table = (folder / "eval" / "sweep.md").read_text()
    assert "| 0.001 | pubmedqa-debug-cpu-lr0.001 | pubmedqa | acc | 40 |" in table
    assert "| 0.003 | pubmedqa-debug-cpu-lr0.003 | pubmedqa | acc | 40 |" in table, output[-2000:]
    results = (folder / "eval" / "results.md").read_text()
    assert "## pubmedqa-debug-cpu-lr0.001 (step 2" in results and "lr0.003 (step 2" in results
    after_fit = predictions(folder / "eval", "pubmedqa-debug-cpu-lr0.001", "pubmedqa")
    run_dir = folder / "lr0.001"
    for checkpoint in (
        run_dir / "hf" / "huggingface" / "ba2",
        next((run_dir / "checkpoints").glob("*-ba2-rank0.pt")),
    ):
        score_later(checkpoint, "pubmedqa-debug-cpu", tiny_dir, 40, tmp_path / "later")
        name = f"pubmedqa-debug-cpu-{checkpoint.name.removesuffix('.pt')}"
        later = predictions(tmp_path / "later", name, "pubmedqa")
        assert [p["pred"] for p in later] == [p["pred"] for p in after_fit]
        for a, b in zip(later, after_fit, strict=True):
            assert a["scores"] == pytest.approx(b["scores"], abs=1e-5)


GPU_FSDP = yaml.safe_dump(
    yaml.safe_load((REPO / "recipes" / "finetune" / "medqa.yaml").read_text())["fsdp_config"],
    default_flow_style=True,
    width=1000,
).strip()


@pytest.mark.slow
@pytest.mark.world_size(2)
def test_two_fsdp2_processes_score_as_one(tiny_dir: Path, tmp_path: Path) -> None:
    overrides = [
        f"fsdp_config={GPU_FSDP}",  # FULL_SHARD, activation checkpointing, sharded checkpoints
        "data.train_limit=64",
        "data.test_limit=29",  # odd: the sampler pads one rank; each item is scored once
        "max_duration=3ba",
        "save_interval=3ba",
        "eval_interval=3ba",
    ]
    run(
        command("medqa-debug-cpu", tmp_path, tiny_dir, *overrides, launcher=composer(2)),
        env={**ENV, "FSDP_VERSION": "2"},
    )
    rows = [json.loads(line) for line in (tmp_path / "eval" / "results.jsonl").open()]
    assert [(r["task"], r["n"]) for r in rows] == [("medqa_heldout", 29)]
    after_fit = predictions(tmp_path / "eval", "medqa-debug-cpu", "medqa_heldout")
    assert len({p["key"] for p in after_fit}) == 29
    for checkpoint in (
        tmp_path / "run" / "hf" / "huggingface" / "ba3",
        tmp_path / "ckpt" / "ep0-ba3",
    ):
        score_later(checkpoint, "medqa-debug-cpu", tiny_dir, 29, tmp_path / "later")
        later = predictions(
            tmp_path / "later", f"medqa-debug-cpu-{checkpoint.name}", "medqa_heldout"
        )
        for a, b in zip(later, after_fit, strict=True):
            assert a["key"] == b["key"] and a["scores"] == pytest.approx(b["scores"], abs=1e-4)


CRASH_IN_SCORING = [
    sys.executable, "-c",
    "import sys; import eval_gauntlet.finetuned.callback as scoring\n"
    "def crash(*args, **kwargs): raise RuntimeError('crashed in the after-fit scoring')\n"
    "scoring.score_finetuned = crash\n"
    "from biomedlm.train import main; sys.exit(main(sys.argv[1:]))",
]  # fmt: skip


@pytest.mark.slow
def test_a_crash_after_the_last_checkpoint_is_completed_by_the_relaunch(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    from biomedlm.finetune.after_fit import missing
    from biomedlm.recipe_kinds import load_recipe
    from biomedlm.trained.load import read_progress

    overrides = [
        "data.train_limit=32",
        "data.test_limit=8",
        "max_duration=2ba",
        "eval_interval=2ba",
    ]
    crashed = subprocess.run(
        command("pubmedqa-debug-cpu", tmp_path, tiny_dir, *overrides, launcher=CRASH_IN_SCORING),
        cwd=REPO, capture_output=True, text=True, env=ENV, timeout=400,
    )  # fmt: skip
    assert crashed.returncode != 0 and "crashed in the after-fit scoring" in crashed.stderr
    checkpoint = tmp_path / "ckpt" / "ep0-ba2-rank0.pt"
    exports = tmp_path / "run" / "hf" / "huggingface"
    assert checkpoint.is_file() and not (tmp_path / "eval" / "results.jsonl").exists()
    weights = load_file(exports / "ba2" / "model.safetensors")
    shutil.rmtree(exports / "ba2")  # and the export, as a kill in it leaves it:
    (exports / ".ba2.partial").mkdir()  # only under its temporary name
    (exports / ".ba2.partial" / "config.json").write_text("{}")

    output = run(command("pubmedqa-debug-cpu", tmp_path, tiny_dir, *overrides))
    assert (
        f"run pubmedqa-debug-cpu has finished at batch 2 ({checkpoint}), but the export "
        f"{exports / 'ba2'} and the test scores in {tmp_path / 'eval'} (eval.test_after_fit) are "
        "missing (a crash after the last checkpoint): completing them from that checkpoint, "
        "without training (the scores alone: python -m eval_gauntlet finetuned --name "
        f"pubmedqa-debug-cpu {checkpoint} {tmp_path / 'run' / 'recipe.yaml'})"
    ) in output
    assert "completed its after-fit work at batch 2 (export, scores); nothing was trained" in output
    assert losses(output) == []
    assert sorted(p.name for p in exports.iterdir()) == ["ba2"]
    again = load_file(exports / "ba2" / "model.safetensors")
    assert again.keys() == weights.keys() and all(torch.equal(again[k], weights[k]) for k in again)
    rows = [json.loads(line) for line in (tmp_path / "eval" / "results.jsonl").open()]
    assert [(r["checkpoint"], r["task"], r["n"], r["step"]) for r in rows] == [
        ("pubmedqa-debug-cpu", "pubmedqa", 8, 2)
    ]
    recipe = load_recipe(tmp_path / "run" / "recipe.yaml", components=False)
    assert missing(recipe, read_progress(checkpoint)) == {}  # the next relaunch: finished
