"""The GPU benchmark's harness: its derived recipes keep the GPU configuration; it runs on CPU."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from biomedlm.recipe import load_recipe
from tests.biomedlm import debug_runs

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import bench_gpu  # noqa: E402


def options(tmp_path: Path, **extra: object) -> argparse.Namespace:
    base = {
        "gpus": 8,
        "batches": 3,
        "warmup": 1,
        "micro_batch": None,
        "global_batch": None,
        "tokenizer": str(debug_runs.DATA / "tokenizer") if debug_runs.DATA else "",
        "cpu": False,
    }
    return argparse.Namespace(**{**base, **extra})


def test_the_derived_27b_recipe_keeps_its_gpu_configuration(prepared: Path, tmp_path: Path) -> None:
    path = REPO / "recipes" / "pretrain" / "biomedlm-2.7b.yaml"
    derived = bench_gpu.derived_recipe(path, options(tmp_path), tmp_path)
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

    written = tmp_path / "derived.yaml"  # what `composer -n 8 train` is given: a valid recipe
    written.write_text(yaml.safe_dump(derived, sort_keys=False))
    assert load_recipe(written).fsdp_config == original.fsdp_config


def test_the_harness_runs_a_recipe_through_the_composer_launcher(
    prepared: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gpu.json"
    bench_gpu.main(
        [
            "--cpu",
            str(REPO / "recipes" / "pretrain" / "debug-cpu.yaml"),
            "--batches",
            "3",
            "--warmup",
            "1",
            "--global-batch",
            "4",
            "--micro-batch",
            "2",
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
            "--tokenizer",
            str(prepared / "tokenizer"),
        ]
    )
    (result,) = json.loads(out.read_text())["results"]
    assert result["tokens_per_s_per_device"] > 0 and result["mfu"] is None  # no GPU peak on CPU
    assert result["parameters"] > 1e6 and result["global_batch"] == 4
    log = (tmp_path / "work" / "debug-cpu.log").read_text()
    assert "throughput/device/flops_per_sec" in log  # the model's flops reach the speed monitor
