"""Relaunching a run: finished -> one line and exit 0; changed -> refused or applied, and recorded."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from biomedlm.recipe_files import resolved
from biomedlm.recipe_kinds import load_recipe
from biomedlm.relaunch import (
    ARCHITECTURE,
    RESTORED,
    _under,
    changed_keys,
    check_relaunch,
    latest_checkpoint,
)
from biomedlm.run_record import read_record, write_record
from biomedlm.settings import RecipeError
from biomedlm.train import main
from data_prep.manifest import tokenizer_identity
from data_prep.publish import new_set, publish, release_sets
from tests.fixtures.paths import REPO
from tests.fixtures.runs import DEBUG, data_overrides, debug_command, run_training


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
    assert recipe.save_folder is not None
    write_record(recipe.save_folder, resolved(recipe), {})
    save_checkpoint(Path(recipe.save_folder), 2)
    return overrides


def save_checkpoint(folder: Path, batch: int, config: dict[str, Any] | None = None) -> Path:
    """A checkpoint file of ``batch`` (its timestamp, and its Hugging Face ``config`` if given:
    what the relaunch checks read)."""
    stamp = {"batch": batch, "token": 2048 * batch, "sample": 8 * batch, "epoch": 0}
    path = folder / f"ep0-ba{batch}-rank0.pt"
    folder.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"timestamp": {"Timestamp": stamp}}
    if config is not None:  # where Composer's HuggingFaceModel saves it
        state["integrations"] = {"huggingface": {"model": {"config": {"content": config}}}}
    torch.save({"state": state}, path)
    return path


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


@pytest.mark.parametrize("trained_with", [False, True])
def test_a_relaunch_refuses_a_checkpoint_of_another_attention_scale(
    tmp_path: Path, trained_with: bool
) -> None:
    """A run trained before biomedlm/architecture/config.json set
    scale_attn_by_inverse_layer_idx: its checkpoint would resume into another model."""
    from transformers import GPT2Config

    overrides = [*data_overrides(), f"run_dir={tmp_path / 'run'}", "max_duration=120ba"]
    recipe = load_recipe(DEBUG, overrides, components=False)
    assert recipe.save_folder is not None
    write_record(recipe.save_folder, resolved(recipe), {})
    saved = GPT2Config(  # the debug recipe's model, as its checkpoint's config says
        n_layer=2, n_embd=128, n_head=4, activation_function="gelu_new",
        scale_attn_by_inverse_layer_idx=trained_with,
    ).to_dict()  # fmt: skip
    checkpoint = save_checkpoint(Path(recipe.save_folder), 60, saved)
    if trained_with:  # as the architecture file says now
        assert check_relaunch(recipe, resolved(recipe)) is None
        return
    with pytest.raises(RecipeError) as caught:
        check_relaunch(recipe, resolved(recipe))
    assert str(caught.value).startswith(
        f"scale_attn_by_inverse_layer_idx: {checkpoint} was trained with False but the "
        "recipe's model"
    )
    assert f"model.init_from={checkpoint}" in str(caught.value) and "\n" not in str(caught.value)


def test_a_relaunch_refuses_the_same_streams_in_another_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Streaming reads its streams in order: reordering them changes the samples resumed at."""
    overrides = [*data_overrides(), f"run_dir={tmp_path / 'run'}"]
    pmc = "train_loader.streams.pmc={local: /data/pmc}"
    recipe = load_recipe(DEBUG, [*overrides, pmc], components=False)
    record = resolved(recipe)
    streams = record["train_loader"]["streams"]
    assert list(streams) == ["pubmed", "pmc"]
    write_record(recipe.save_folder, record, {})
    save_checkpoint(Path(recipe.save_folder), 2)
    with caplog.at_level(logging.INFO, logger="biomedlm.relaunch"):
        assert relaunch(overrides, pmc) is None  # the same order: nothing changed
    assert "changed settings" not in caplog.text
    record["train_loader"]["streams"] = {"pmc": streams["pmc"], "pubmed": streams["pubmed"]}
    write_record(recipe.save_folder, record, {})
    order = r"^train_loader.streams \(\['pmc', 'pubmed'\] -> \['pubmed', 'pmc'\]\).*data order"
    with pytest.raises(RecipeError, match=order) as caught:
        relaunch(overrides, pmc)
    assert "\n" not in str(caught.value)


def test_a_relaunch_refuses_a_stream_set_to_null(tmp_path: Path) -> None:
    """A removed stream is absent, not a stream both recipes have whose shards moved."""
    overrides = [*data_overrides(), f"run_dir={tmp_path / 'run'}"]
    recipe = load_recipe(DEBUG, [*overrides, "train_loader.streams.pmc={local: /data/pmc}"])
    assert recipe.save_folder is not None
    write_record(recipe.save_folder, resolved(recipe), {})
    save_checkpoint(Path(recipe.save_folder), 2)
    with pytest.raises(RecipeError, match=r"^train_loader.streams.pmc.local .*data order"):
        relaunch(overrides, "train_loader.streams.pmc=null")


def test_a_save_folder_naming_the_run_is_checked_where_composer_saves(tmp_path: Path) -> None:
    """Composer fills in ``{run_name}`` (llm-foundry's recipes save to ``./{run_name}/...``): the
    record and the checks are in that folder, not in one named ``{run_name}``."""
    overrides = [
        *data_overrides(),
        f"run_dir={tmp_path / 'run'}",
        f"save_folder={tmp_path / '{run_name}' / 'checkpoints'}",
    ]
    recipe = load_recipe(DEBUG, overrides, components=False)
    saved = tmp_path / recipe.run_name / "checkpoints"
    assert recipe.save_folder is not None and recipe.run_name == "debug-cpu"
    write_record(str(saved), resolved(recipe), {})
    save_checkpoint(saved, 2)
    finished = relaunch(overrides, "max_duration=2ba")
    assert finished is not None and str(finished).startswith("run debug-cpu has finished: batch 2")
    with pytest.raises(RecipeError, match=rf"^optimizer.lr .*restores it from .*{saved}"):
        relaunch(overrides, "optimizer.lr=0.5")
    # the run's record callback is given the recipe's save_folder
    assert write_record(recipe.save_folder, resolved(recipe), {}) == str(saved / "run.yaml")


def test_of_two_checkpoints_at_one_batch_the_later_epoch_is_the_latest(tmp_path: Path) -> None:
    """``ep10-ba70`` (saved at the epoch's end) is newer than ``ep9-ba70``, not older as text."""
    for name in ("ep9-ba70-rank0.pt", "ep10-ba70-rank0.pt", "ep10-ba70-rank1.pt"):
        (tmp_path / name).write_bytes(b"x")
    latest = latest_checkpoint(str(tmp_path))
    assert latest is not None and latest.name == "ep10-ba70-rank0.pt"
    (tmp_path / "ep10-ba70").mkdir()  # sharded, saved alongside
    (tmp_path / "ep9-ba71").mkdir()
    latest = latest_checkpoint(str(tmp_path))
    assert latest is not None and latest.name == "ep9-ba71"  # the batch first


FINETUNE = REPO / "recipes" / "finetune" / "pubmedqa-debug-cpu.yaml"


@pytest.mark.parametrize(
    ("changed", "refused"),
    [
        ("data.test_limit=5", None),  # was refused: "restores it from the checkpoint"
        ("data.test=[data/finetune/pubmedqa/other.json]", None),
        ("data.validation=[]", None),
        ("data.train_limit=5", "data order"),
        ("data.train=[data/finetune/pubmedqa/other.json]", "data order"),
        ("data.max_length=128", "data order"),
    ],
)
def test_a_finetune_relaunch_applies_its_evaluation_data_and_refuses_its_training_data(
    tmp_path: Path, changed: str, refused: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = [f"run_dir={tmp_path / 'run'}", "model.init_from=weights"]
    recipe = load_recipe(FINETUNE, overrides, components=False)
    write_record(recipe.save_folder, resolved(recipe), {})
    save_checkpoint(Path(recipe.save_folder), 2)
    relaunched = load_recipe(FINETUNE, [*overrides, changed], components=False)
    key = changed.partition("=")[0]
    if refused is None:
        with caplog.at_level(logging.INFO, logger="biomedlm.relaunch"):
            assert check_relaunch(relaunched, resolved(relaunched)) is None
        assert f"relaunch with changed settings, applied: {key}" in caplog.text
        return
    with pytest.raises(RecipeError, match=rf"^{key} .*: differs.*{refused}") as caught:
        check_relaunch(relaunched, resolved(relaunched))
    assert "would be ignored" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_key_the_record_lacks_counts_at_its_schema_default(
    resumable: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run recorded before a key joined the schema relaunches as if it had the default."""
    recipe = load_recipe(DEBUG, resumable, components=False)
    record = resolved(recipe)
    del record["train_loader"]["drop_last"]  # a key of the data order: refused if changed
    write_record(recipe.save_folder, record, {})
    with caplog.at_level(logging.INFO, logger="biomedlm.relaunch"):
        assert relaunch(resumable) is None
    assert "changed settings" not in caplog.text
    with pytest.raises(RecipeError, match=r"^train_loader.drop_last \(True -> False\).*data order"):
        relaunch(resumable, "train_loader.drop_last=false")
    overrides = [f"run_dir={tmp_path / 'finetune'}", "model.init_from=weights"]
    finetune = load_recipe(FINETUNE, overrides, components=False)
    record = resolved(finetune)
    for key in ("layout", "num_workers", "prefetch_factor", "pin_memory"):  # keys added later
        del record["data"][key]
    write_record(finetune.save_folder, record, {})
    save_checkpoint(Path(finetune.save_folder), 2)
    with caplog.at_level(logging.INFO, logger="biomedlm.relaunch"):
        assert check_relaunch(finetune, resolved(finetune)) is None
    assert "changed settings" not in caplog.text


class FakeTrain:
    """llm-foundry's ``train`` as far as a relaunch sees it: the callbacks' FIT_START, then a
    checkpoint at batch 2; or ``fail``, raised before training (a crash building the trainer)."""

    def __init__(self) -> None:
        self.fail: Exception | None = None
        self.trained = 0

    def __call__(self, cfg: Any) -> None:
        from llmfoundry.utils.builders import build_callback
        from omegaconf import OmegaConf

        if self.fail is not None:
            raise self.fail
        for name, args in cfg.callbacks.items():
            if (
                name == "run_record"
            ):  # the callbacks that act at FIT_START, as the trainer runs them
                callback = build_callback(name, OmegaConf.to_container(args))
                callback.fit_start(None, None)  # type: ignore[arg-type]
        save_checkpoint(Path(cfg.save_folder), 2)
        self.trained += 1


@pytest.fixture
def fake_train(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTrain]:
    fake = FakeTrain()
    monkeypatch.setattr("llmfoundry.command_utils.train", fake)
    yield fake
    release_sets()  # as each launch's exit does


def relaunch_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """``python -m biomedlm.train DEBUG ARGS`` in this process: its status and error lines."""
    release_sets()  # a launch holds the data set it reads until it exits
    capsys.readouterr()
    status = main([str(DEBUG), *args])
    return status, capsys.readouterr().err.splitlines()


def test_a_relaunch_is_checked_against_its_checkpoints_not_its_run_folder(
    tmp_path: Path, fake_train: FakeTrain, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new run_dir on the same save_folder was not checked (KeyError loading 2 layers into
    3), and that crashed launch then became the recipe the correct relaunch was refused against."""
    save_folder = tmp_path / "run" / "checkpoints"
    assert relaunch_main(capsys, *data_overrides(), f"run_dir={tmp_path / 'run'}")[0] == 0
    other = [*data_overrides(), f"run_dir={tmp_path / 'other'}", f"save_folder={save_folder}"]

    fake_train.fail = KeyError("transformer.h.2.ln_1.weight")  # Composer's, on 3 layers
    status, errors = relaunch_main(capsys, *other, "model.n_layers=3")
    assert status == 2 and len(errors) == 1
    assert errors[0].startswith(
        f"error: model.n_layers (2 -> 3): differs from the run's recipe ({save_folder}/run.yaml)"
    )

    fake_train.fail = RuntimeError("CUDA out of memory")  # a launch that fails before training
    with pytest.raises(RuntimeError):
        relaunch_main(capsys, *other, "max_duration=80ba")
    assert "max_duration: 60ba" in (save_folder / "run.yaml").read_text()
    assert not (tmp_path / "other" / "recipe.yaml").exists()  # never the recipe in effect

    fake_train.fail = None
    assert relaunch_main(capsys, *other) == (0, [])  # the correct relaunch
    assert fake_train.trained == 2
    assert "max_duration: 60ba" in (tmp_path / "other" / "recipe.yaml").read_text()


def republish(data: Path, source: Path, edit: Callable[[dict[str, Any]], None] | None) -> None:
    """Publish ``source``'s set as ``data``'s new one, its tokenizer edited, as data_prep would."""
    release_sets()
    set_dir = new_set(data)
    for name in ("train", "validation", "tokenizer"):
        shutil.copytree(source / name, set_dir / name)
    if edit is not None:
        spec = json.loads((set_dir / "tokenizer" / "tokenizer.json").read_text())
        edit(spec)
        (set_dir / "tokenizer" / "tokenizer.json").write_text(json.dumps(spec))
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["tokenizer"] |= tokenizer_identity(set_dir / "tokenizer")
    (set_dir / "manifest.json").write_text(json.dumps(manifest))
    publish(data, set_dir)


def swap_two_tokens(spec: dict[str, Any]) -> None:
    """Another tokenizer of the same size: two ids trade their tokens."""
    vocab = spec["model"]["vocab"]
    a, b = (token for token, i in vocab.items() if i in (100, 101))
    vocab[a], vocab[b] = vocab[b], vocab[a]


def add_a_token(spec: dict[str, Any]) -> None:
    """A tokenizer of another size (one token more: the same padded embedding, 21,568 rows)."""
    n = max(t["id"] for t in spec["added_tokens"]) + len(spec["model"]["vocab"])
    spec["added_tokens"].append({"id": n, "content": "<|extra|>", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": False,
                                 "special": True})  # fmt: skip


def test_a_relaunch_refuses_another_tokenizer_republished_under_the_same_paths(
    prepared: Path, tmp_path: Path, fake_train: FakeTrain, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resumed on the new vocabulary with exit 0 (same size), or a size mismatch traceback."""
    data = Path(shutil.copytree(prepared, tmp_path / "data", symlinks=True))
    args = [*data_overrides(data), f"run_dir={tmp_path / 'run'}"]
    assert relaunch_main(capsys, *args)[0] == 0  # trains: a checkpoint and its record
    for edit in (swap_two_tokens, add_a_token):
        republish(data, prepared / ".current", edit)
        status, errors = relaunch_main(capsys, *args)
        assert status == 2 and len(errors) == 1
        assert errors[0].startswith(f"error: tokenizer: the tokenizer read now ({data}/.sets/")
        assert "is not the one the checkpoint was trained with (" in errors[0]
        assert "21663 tokens): its token ids would mean other words" in errors[0]
        assert errors[0].endswith(
            f"model.init_from={tmp_path / 'run' / 'checkpoints' / 'ep0-ba2-rank0.pt'})"
        )
    republish(data, prepared / ".current", None)  # a rerun that makes the same set again
    assert relaunch_main(capsys, *args) == (0, [])
    index = data / ".current" / "train" / "index.json"  # then a set of other samples
    index.write_text(index.read_text().replace('"sha1": "', '"sha1": "0'))
    status, errors = relaunch_main(capsys, *args)
    assert status == 2 and errors[0].startswith(
        "error: train_loader.streams.pubmed: its shards are not the ones the checkpoint was "
        "trained on (their index.json differs)"
    )
    assert fake_train.trained == 2


def launch(out: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return run_training(
        debug_command(out, "eval_interval=100ba", "save_interval=2ba", *overrides), timeout=600
    )


@pytest.mark.slow
def test_relaunching_a_finished_or_changed_run(tmp_path: Path) -> None:
    first = launch(tmp_path, "max_duration=2ba")
    assert first.returncode == 0, first.stderr[-2000:]
    record = read_record(str(tmp_path / "run" / "checkpoints"))  # written by the run at FIT_START
    assert record is not None and record["recipe"]["max_duration"] == "2ba"
    assert record["identity"]["tokenizer"]["vocab_size"] == 21663
    assert list(record["identity"]["data"]) == ["train_loader.streams.pubmed"]

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
