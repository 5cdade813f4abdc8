"""Two processes on CPU through Composer's launcher: DDP, and FSDP2 (gloo) with sharded checkpoints.

FSDP v1 needs CUDA; FSDP2 (``FSDP_VERSION=2``) runs over gloo on CPU, here with the 2.7B
recipe's own FSDP settings (bf16 and meta initialisation aside: Composer puts meta parameters
on CUDA). Each case trains two batches, then relaunches the same command for four: autoresume
must pick up the checkpoint and train only the remaining two.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.fixtures.paths import REPO
from tests.fixtures.runs import composer, losses, run_debug

GPU_RECIPE = REPO / "recipes" / "pretrain" / "biomedlm-2.7b.yaml"
GPU_FSDP = yaml.safe_dump(
    yaml.safe_load(GPU_RECIPE.read_text())["fsdp_config"], default_flow_style=True, width=1000
).strip()


def launch(tmp_path: Path, batches: int, extra: list[str], env: dict[str, str]) -> list[float]:
    output = run_debug(
        tmp_path,
        f"max_duration={batches}ba",
        "eval_interval=2ba",
        "save_interval=2ba",
        f"save_folder={tmp_path / 'ckpt'}",
        *extra,
        launcher=composer(2),
        env=env,
    )
    return losses(output)


def scores_like_its_export(checkpoint: Path, tmp_path: Path) -> None:
    """The gauntlet reads the checkpoint (a file, or FSDP's shards) as the HF export of its step."""
    from eval_gauntlet.__main__ import main

    out = tmp_path / "eval"
    args = ["--tasks", "medqa_4options", "--sample", "4", "--shots", "0", "--no-progress"]
    assert main(["score", str(checkpoint), "--out", str(out), *args]) == 0
    assert (
        main(["score", str(tmp_path / "hf" / "huggingface" / "ba2"), "--out", str(out), *args]) == 0
    )
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    (mine,) = [r for r in rows if r["kind"] == "task" and r["checkpoint"] != "ba2"]
    assert mine["step"] == 2 and mine["tokens"] == 2 * 8 * 256
    name = checkpoint.name.removesuffix(".pt")
    files = [out / "predictions" / n / "medqa_4options.0shot.jsonl" for n in (name, "ba2")]
    ours, export = (
        [x for line in f.read_text().splitlines() for x in json.loads(line)["logprobs"]]
        for f in files
    )
    assert ours == pytest.approx(export, abs=1e-4)


@pytest.mark.slow
@pytest.mark.world_size(2)
@pytest.mark.parametrize(
    ("name", "extra", "env", "checkpoint"),
    [
        ("ddp", [], {}, "ep0-ba2-rank0.pt"),
        (  # the 2.7B recipe's own FSDP settings: FULL_SHARD, activation checkpointing, sharded
            "fsdp2",
            [f"fsdp_config={GPU_FSDP}"],
            {"FSDP_VERSION": "2"},
            "ep0-ba2/__1_0.distcp",
        ),
    ],
)
def test_two_processes_train_checkpoint_and_resume(
    tmp_path: Path, name: str, extra: list[str], env: dict[str, str], checkpoint: str
) -> None:
    first = launch(tmp_path, 2, extra, env)
    assert len(first) == 2
    assert (tmp_path / "ckpt" / checkpoint).is_file()
    scores_like_its_export(tmp_path / "ckpt" / Path(checkpoint).parts[0], tmp_path)
    resumed = launch(tmp_path, 4, extra, env)
    assert len(resumed) == 2  # batches 3 and 4 only: the first two came from the checkpoint
    steps = [
        int(line.split(",")[0])
        for line in (tmp_path / "run" / "loss.csv").read_text().splitlines()[1:]
        if ",train," in line
    ]
    assert steps == [1, 2, 3, 4]
