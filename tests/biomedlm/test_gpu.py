"""The GPU tier (``make test-gpu``): what only runs on CUDA, with the GPU recipes' own settings.

bf16 autocast, FSDP v1 FULL_SHARD with meta initialisation and sharded checkpoints, a resume
from those shards, and the gauntlet reading them. Deselected by default (``-m 'not gpu'``); CI
has no GPU. The 2-GPU cases need two devices and skip otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.fixtures.paths import REPO
from tests.fixtures.runs import composer, losses, run_debug

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
GPU_RECIPE = yaml.safe_load((REPO / "recipes" / "pretrain" / "biomedlm-2.7b.yaml").read_text())
FSDP = yaml.safe_dump(GPU_RECIPE["fsdp_config"], default_flow_style=True, width=1000).strip()


def gpus(n: int) -> pytest.MarkDecorator:
    return pytest.mark.skipif(torch.cuda.device_count() < n, reason=f"needs {n} GPUs")


def score(checkpoint: Path, out: Path, device: str = "cuda") -> dict[str, object]:
    from eval_gauntlet.__main__ import main

    args = ["--tasks", "medqa_4options", "--sample", "8", "--shots", "0", "--no-progress"]
    assert main(["score", str(checkpoint), "--out", str(out), "--device", device, *args]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return next(r for r in rows if r["kind"] == "task")


def test_bf16_debug_recipe_trains_and_its_export_scores(tmp_path: Path) -> None:
    output = run_debug(
        tmp_path,
        "precision=amp_bf16",
        "max_duration=20ba",
        "eval_interval=20ba",
        "save_interval=20ba",
        "callbacks.hf_checkpointer.save_interval=20ba",
        "callbacks.hf_checkpointer.precision=bfloat16",
    )
    seen = losses(output)
    assert len(seen) == 20 and sum(seen[-3:]) < sum(seen[:3]) - 1.0
    row = score(tmp_path / "hf" / "huggingface" / "ba20", tmp_path / "eval")
    assert row["n"] == 8


@gpus(2)
@pytest.mark.world_size(2)
def test_fsdp_full_shard_meta_init_sharded_save_resume_and_gauntlet(tmp_path: Path) -> None:
    """The 2.7B recipe's FSDP settings on the debug model, on two GPUs, as the real run does."""
    common = [
        "precision=amp_bf16",
        "model.init_device=meta",
        f"fsdp_config={FSDP}",
        "eval_interval=2ba",
        "save_interval=2ba",
        f"save_folder={tmp_path / 'ckpt'}",
    ]
    first = losses(run_debug(tmp_path, "max_duration=2ba", *common, launcher=composer(2)))
    assert len(first) == 2
    shards = tmp_path / "ckpt" / "ep0-ba2"
    assert (shards / ".metadata").is_file() and len(list(shards.glob("*.distcp"))) == 2
    resumed = losses(run_debug(tmp_path, "max_duration=4ba", *common, launcher=composer(2)))
    assert len(resumed) == 2  # batches 3 and 4: the shards were read back
    on_gpu = score(shards, tmp_path / "eval-gpu")
    on_cpu = score(shards, tmp_path / "eval-cpu", device="cpu")
    assert on_gpu["step"] == 2 and on_gpu["acc"] == on_cpu["acc"]


@gpus(2)
@pytest.mark.world_size(2)
def test_the_27b_architecture_takes_a_step_under_fsdp(tmp_path: Path) -> None:
    """One batch of the real 2.7B shape (32 layers, d 2560) at 1024 tokens, sharded on two GPUs."""
    output = run_debug(
        tmp_path,
        "precision=amp_bf16",
        "model.init_device=meta",
        "model.n_layers=32",
        "model.d_model=2560",
        "model.n_heads=20",
        f"fsdp_config={FSDP}",
        "global_train_batch_size=4",
        "device_train_microbatch_size=1",
        "max_duration=1ba",
        "eval_interval=100ba",
        "save_folder=null",
        "callbacks.hf_checkpointer=null",
        launcher=composer(2),
        timeout=1200,
    )
    (loss,) = losses(output)
    assert 9.0 < loss < 11.5  # about ln(vocabulary) at initialisation
