"""The GPU benchmark's harness: its derived recipes keep the GPU configuration; it runs on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from biomedlm.recipe_kinds import load_recipe

REPO = Path(__file__).resolve().parents[2]


def bench_gpu(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks.bench_gpu`` as a user runs it (tests never import benchmarks)."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_gpu", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_the_derived_27b_recipe_keeps_its_gpu_configuration(prepared: Path, tmp_path: Path) -> None:
    path = REPO / "recipes" / "pretrain" / "biomedlm-2.7b.yaml"
    bench_gpu(path, "--gpus", 8, "--batches", 3, "--warmup", 1, "--derive-only",
              "--work", tmp_path, "--tokenizer", prepared / "tokenizer")  # fmt: skip
    written = tmp_path / "biomedlm-2.7b.yaml"
    derived = yaml.safe_load(written.read_text())
    original = load_recipe(path)
    assert derived["precision"] == "amp_bf16" and derived["model"]["d_model"] == 2560
    assert derived["fsdp_config"]["sharding_strategy"] == "FULL_SHARD"
    assert derived["fsdp_config"]["activation_checkpointing"] is True
    assert derived["optimizer"]["lr"] == original.optimizer["lr"]
    assert derived["algorithms"] == original.algorithms
    assert set(derived["callbacks"]) == {"speed_monitor", "memory_monitor", "lr_monitor"}
    assert derived["eval_loader"] is None and derived["save_folder"] is None
    assert derived["global_train_batch_size"] == 8 * 8 * 4  # 4 micro-batches of 8 per GPU
    data = Path(derived["train_loader"]["streams"]["synthetic"]["local"])
    index = json.loads((data / "train" / "index.json").read_text())
    assert sum(s["samples"] for s in index["shards"]) == 256 * 4
    assert index["shards"][0]["column_encodings"] == ["ndarray:uint16:1024"]

    assert load_recipe(written).fsdp_config == original.fsdp_config  # what the launcher is given


def test_the_harness_runs_a_recipe_through_the_composer_launcher(
    prepared: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gpu.json"
    bench_gpu("--cpu", REPO / "recipes" / "pretrain" / "debug-cpu.yaml", "--batches", 3,
              "--warmup", 1, "--global-batch", 4, "--micro-batch", 2, "--out", out,
              "--work", tmp_path / "work", "--tokenizer", prepared / "tokenizer")  # fmt: skip
    (result,) = json.loads(out.read_text())["results"]
    assert result["tokens_per_s_per_device"] > 0 and result["mfu"] is None  # no GPU peak on CPU
    assert result["parameters"] > 1e6 and result["global_batch"] == 4
    log = (tmp_path / "work" / "debug-cpu.log").read_text()
    assert "throughput/device/flops_per_sec" in log  # the model's flops reach the speed monitor
