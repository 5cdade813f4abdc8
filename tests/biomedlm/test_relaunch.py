"""Relaunching a run: finished -> one line and exit 0; changed -> refused or applied, and recorded."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from biomedlm.recipe import RecipeError, load_recipe, resolved
from biomedlm.relaunch import ARCHITECTURE, RECORD, RESTORED, _under, changed_keys, check_relaunch
from tests.biomedlm.debug_runs import DEBUG, REPO, data_overrides, debug_command


def test_changed_keys_are_classified() -> None:
    old = {
        "model": {"n_layers": 2, "dropout": 0.1},
        "optimizer": {"lr": 1e-3},
        "max_duration": "4ba",
    }
    new = {
        "model": {"n_layers": 3, "dropout": 0.1},
        "optimizer": {"lr": 2e-3},
        "max_duration": "8ba",
    }
    changes = changed_keys(old, new)
    assert changes == {
        "max_duration": ("4ba", "8ba"),
        "model.n_layers": (2, 3),
        "optimizer.lr": (1e-3, 2e-3),
    }
    assert _under("model.n_layers", ARCHITECTURE) and _under("optimizer.lr", RESTORED)
    assert not _under("max_duration", ARCHITECTURE + RESTORED)
    assert not _under("model.n_layers_extra", ARCHITECTURE)  # prefixes are whole keys


def sample_order(data: Path, workers: int) -> list[str]:
    """The first training samples of ``data`` as llm-foundry's text loader yields them."""
    from llmfoundry.data.text_data import build_text_dataloader
    from streaming.base.util import clean_stale_shared_memory
    from transformers import AutoTokenizer

    clean_stale_shared_memory()
    spec = build_text_dataloader(
        tokenizer=AutoTokenizer.from_pretrained(data / "tokenizer"),
        device_batch_size=2,
        dataset={"streams": {"pubmed": {"local": str(data), "split": "train"}},
                 "max_seq_len": 256, "shuffle": True, "shuffle_seed": 17, "eos_token_id": 0},
        drop_last=True,
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        persistent_workers=False,
    )  # fmt: skip
    order: list[str] = []
    for batch in spec.dataloader:
        order += [hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in batch["input_ids"]]
        if len(order) >= 8:
            return order
    return order


def test_the_data_order_depends_neither_on_workers_nor_on_where_the_shards_are(
    prepared: Path, tmp_path: Path
) -> None:
    """Why a relaunch applies num_workers and a stream's new location (streaming's determinism)."""
    moved = shutil.copytree(prepared, tmp_path / "moved")
    reference = sample_order(prepared, 0)
    assert len(set(reference)) == 8
    assert sample_order(prepared, 2) == reference and sample_order(moved, 0) == reference


@pytest.fixture
def resumable(tmp_path: Path) -> list[str]:
    """A run folder and a checkpoint at batch 2 of the debug recipe (its overrides returned)."""
    overrides = [*data_overrides(), f"run_dir={tmp_path / 'run'}"]
    recipe = load_recipe(DEBUG, overrides, components=False)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / RECORD).write_text(yaml.safe_dump(resolved(recipe)))
    assert recipe.save_folder is not None
    Path(recipe.save_folder).mkdir(parents=True)
    stamp = {"batch": 2, "token": 4096, "sample": 16, "epoch": 0}
    torch.save(
        {"state": {"timestamp": {"Timestamp": stamp}}}, f"{recipe.save_folder}/ep0-ba2-rank0.pt"
    )
    return overrides


def relaunch(overrides: list[str], *changed: str) -> str | None:
    recipe = load_recipe(DEBUG, [*overrides, *changed], components=False)
    return check_relaunch(recipe, resolved(recipe))


@pytest.mark.parametrize(
    "changed",
    [
        ["train_loader.num_workers=1"],
        ["train_loader.num_workers=2", "train_loader.prefetch_factor=4"],
        ["train_loader.pin_memory=true"],
        ["train_loader.eos_token_id=0"],
        ["train_loader.streams.pubmed.local=/moved/sample"],
        ["train_loader.streams.pubmed.remote=s3://bucket/sample"],
        ["eval_loader.shuffle=true"],
    ],
)
def test_a_relaunch_applies_loader_settings_the_checkpoint_does_not_restore(
    resumable: list[str], changed: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="biomedlm.relaunch"):
        assert relaunch(resumable, *changed) is None
    key = changed[0].partition("=")[0]
    assert f"relaunch with changed settings, applied: {key}" in caplog.text


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (
            "train_loader.shuffle_seed=18",
            r"train_loader.shuffle_seed \(17 -> 18\).*would be ignored",
        ),
        ("train_loader.shuffle=false", "train_loader.shuffle .*data order"),
        ("train_loader.split=validation", "train_loader.split .*data order"),
        ("train_loader.drop_last=false", "train_loader.drop_last .*data order"),
        ("train_loader.streams.pubmed.proportion=0.5", "streams.pubmed.proportion .*data order"),
        ("train_loader.streams.pmc={local: /data/pmc}", "streams.pmc.local .*data order"),
    ],
)
def test_a_relaunch_refuses_what_the_checkpoint_restores_or_counts(
    resumable: list[str], changed: str, message: str
) -> None:
    with pytest.raises(RecipeError, match=message) as caught:
        relaunch(resumable, changed)
    assert "\n" not in str(caught.value)


def launch(out: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        debug_command(out, "eval_interval=100ba", "save_interval=2ba", *overrides),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_relaunching_a_finished_or_changed_run(tmp_path: Path) -> None:
    first = launch(tmp_path, "max_duration=2ba")
    assert first.returncode == 0, first.stderr[-2000:]

    again = launch(tmp_path, "max_duration=2ba")  # a scheduler retrying a finished job
    assert again.returncode == 0, again.stderr[-2000:]
    (line,) = [x for x in again.stdout.splitlines() if "has finished" in x]
    assert line.startswith("run debug-cpu has finished: batch 2,") and "max_duration" in line
    assert "Traceback" not in again.stderr

    deeper = launch(tmp_path, "max_duration=2ba", "model.n_layers=3")
    assert deeper.returncode == 2
    assert "error: model.n_layers (2 -> 3): differs from the run's recipe" in deeper.stderr
    assert "Traceback" not in deeper.stderr

    faster = launch(tmp_path, "max_duration=2ba", "optimizer.lr=0.001")
    assert faster.returncode == 2
    assert "optimizer.lr (0.003 -> 0.001)" in faster.stderr and "would be ignored" in faster.stderr

    longer = launch(tmp_path, "max_duration=3ba")  # applies: train one more batch
    assert longer.returncode == 0, longer.stderr[-2000:]
    assert "relaunch with changed settings, applied: max_duration ('2ba' -> '3ba')" in longer.stderr
    records = sorted((tmp_path / "run" / "launches").glob("*-recipe.yaml"))
    assert len(records) == 2  # refused launches record nothing; the kept ones each have a file
    assert "max_duration: 3ba" in (tmp_path / "run" / "recipe.yaml").read_text()
    assert "max_duration: 2ba" in records[0].read_text()
