"""Launch checks: shards, tokenizer and max_seq_len belong together; weights fit; read-only data."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from biomedlm.foundry_config import to_foundry
from biomedlm.preflight import check_machine, preflight
from biomedlm.recipe_kinds import load_recipe
from biomedlm.settings import RecipeError
from tests.fixtures.paths import REPO
from tests.fixtures.runs import DEBUG, data_overrides

BIG = REPO / "recipes" / "pretrain" / "biomedlm-2.7b.yaml"


@pytest.fixture(scope="module")
def small_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample prepared again with a 500-token vocabulary: shards of another tokenizer."""
    out = tmp_path_factory.mktemp("prep500") / "sample"
    subprocess.run(
        [sys.executable, "-m", "data_prep", "recipes/data/sample.yaml",
         f"output_dir={out}", "tokenizer.vocab_size=500"],
        cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
    return out


def launch(*overrides: str) -> object:
    recipe = load_recipe(DEBUG, [*data_overrides(), *overrides], components=False)
    return preflight(recipe)


def test_the_sample_passes(prepared: Path) -> None:
    facts = launch()
    held = {"local": str(prepared / os.readlink(prepared / ".current"))}  # the set published now
    assert facts.eos_id == 0  # type: ignore[attr-defined]
    assert facts.stream_paths == {"train_loader.pubmed": held, "eval_loader.pubmed": held}  # type: ignore[attr-defined]


def test_a_stream_set_to_null_is_not_read(prepared: Path) -> None:
    facts = launch("train_loader.streams.gone=null")
    assert list(facts.data) == ["train_loader.streams.pubmed"]  # type: ignore[attr-defined]


def test_shards_of_a_smaller_vocabulary_with_a_larger_tokenizer_fail(
    prepared: Path, small_vocab: Path
) -> None:
    with pytest.raises(RecipeError, match="made with another tokenizer") as caught:
        launch(f"train_loader.streams.pubmed.local={small_vocab}")
    assert str(small_vocab) in str(caught.value) and str(prepared / "tokenizer") in str(
        caught.value
    )


def test_shards_of_a_larger_vocabulary_with_a_smaller_tokenizer_fail(
    prepared: Path, small_vocab: Path
) -> None:
    """Token ids past the embedding: a crash at the first batch without the check."""
    with pytest.raises(RecipeError, match=r"train_loader.streams.pubmed: the shards at .* another"):
        launch(f"tokenizer.path={small_vocab / 'tokenizer'}")


def without_manifest(data: Path, into: Path) -> Path:
    """A copy of prepared shards without their manifest (shards made by another tool)."""
    copy = Path(shutil.copytree(data, into))  # published names followed: plain folders
    (copy / "manifest.json").unlink()
    return copy


def test_shards_without_a_manifest_with_ids_past_the_tokenizer_fail(
    prepared: Path, small_vocab: Path, tmp_path: Path
) -> None:
    """Was an IndexError at the first batch: nothing said which tokenizer made the shards."""
    data = without_manifest(prepared, tmp_path / "data")
    with pytest.raises(RecipeError) as caught:
        launch(*data_overrides(data), f"tokenizer.path={small_vocab / 'tokenizer'}")
    assert str(caught.value) == (
        f"train_loader.streams.pubmed: the shards at {data}/train hold token id 21662 but "
        f"tokenizer.path={small_vocab / 'tokenizer'} has 500 tokens (no manifest.json beside "
        "them says which tokenizer made them); use the tokenizer the shards were made with"
    )


def test_shards_without_a_manifest_far_below_the_tokenizer_are_said(
    prepared: Path, small_vocab: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Shards of a 500-token tokenizer with the 21,663-token one trained silently."""
    data = without_manifest(small_vocab, tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="biomedlm.token_ids"):
        launch(*data_overrides(data), f"tokenizer.path={prepared / 'tokenizer'}")
    said = [r.getMessage() for r in caplog.records if "most likely made with" in r.getMessage()]
    assert len(said) == 2  # the train and eval streams, one line each
    assert said[0].startswith(f"{data}/train: no manifest.json, and the largest token id in its ")
    assert "is 499 while tokenizer.path=" in said[0] and "has 21663 tokens" in said[0]


@pytest.mark.parametrize("seq", [512, 128])
def test_max_seq_len_must_be_the_shards_sample_length(prepared: Path, seq: int) -> None:
    """512 would train at half the context; 128 would silently drop half of every sample."""
    with pytest.raises(RecipeError, match=f"hold 256-token samples but model.max_seq_len is {seq}"):
        launch(f"model.max_seq_len={seq}")


def test_init_from_with_fewer_positions_than_max_seq_len_fails(
    prepared: Path, tmp_path: Path
) -> None:
    from tests.fixtures.models import tiny_model

    small = tiny_model(tmp_path / "short", prepared / "tokenizer", n_positions=128)
    with pytest.raises(RecipeError, match=r"has 128 positions but model.max_seq_len is 256"):
        launch(f"model.init_from={small}")


def test_init_from_of_another_shape_fails(prepared: Path, tmp_path: Path) -> None:
    """The recipe's sizes are otherwise silently replaced by the weights'."""
    from tests.fixtures.models import tiny_model

    other = tiny_model(tmp_path / "other", prepared / "tokenizer", n_positions=256)  # d 64
    with pytest.raises(RecipeError, match=r"model.d_model=128 vs 64"):
        launch(f"model.init_from={other}")


def test_init_from_saved_with_another_vocabulary_fails(prepared: Path, tmp_path: Path) -> None:
    """Was accepted when the sizes matched: the weights then read every token as another word
    (the fine-tune's rule, biomedlm.init_weights.check_tokenizer, is the launch's too).
    """
    from tests.fixtures.models import tiny_model
    from tests.fixtures.tokenizers import swapped_ids

    other = swapped_ids(prepared / "tokenizer", tmp_path / "tok")
    weights = tiny_model(tmp_path / "w", other, n_positions=256, n_embd=128, n_head=4)
    with pytest.raises(RecipeError) as caught:
        launch(f"model.init_from={weights}")
    held = prepared / os.readlink(prepared / ".current") / "tokenizer"
    assert str(caught.value).startswith(
        f"tokenizer.path: {held} is another vocabulary than the tokenizer saved with "
        f"model.init_from ({weights}): 2 tokens have other ids, e.g. "
    )
    assert f"set it to {weights}" in str(caught.value) and "\n" not in str(caught.value)


def test_init_from_cut_off_fails_at_launch(prepared: Path, tmp_path: Path) -> None:
    """Was a traceback from transformers while llm-foundry built the model, after launch."""
    from tests.fixtures.models import tiny_model

    whole = tiny_model(
        tmp_path / "w", prepared / "tokenizer", n_positions=256, n_embd=128, n_head=4
    )
    assert launch(f"model.init_from={whole}").init_from == str(whole)  # type: ignore[attr-defined]
    weights = whole / "model.safetensors"
    size = weights.stat().st_size
    os.truncate(weights, size - 1000)  # the disk filled up while it was exported
    with pytest.raises(RecipeError) as caught:
        launch(f"model.init_from={whole}")
    assert str(caught.value) == (
        f"model.init_from: {whole} is not a whole Hugging Face folder (model.safetensors is cut "
        f"off at {size - 1000:,} of {size:,} bytes); export it again, or point model.init_from "
        "at a complete one"
    )


def test_a_model_folder_is_checked_from_its_headers(tiny_dir: Path, tmp_path: Path) -> None:
    """Cut anywhere (in the header or the tensors), a missing shard, a cut .bin: each named."""
    import torch

    from biomedlm.trained.kinds import incomplete_model_folder

    folder = tmp_path / "m"
    shutil.copytree(tiny_dir, folder)
    assert incomplete_model_folder(folder) is None
    whole = (folder / "model.safetensors").read_bytes()
    for keep in (0, 7, 200, len(whole) - 1):
        (folder / "model.safetensors").write_bytes(whole[:keep])
        why = incomplete_model_folder(folder)
        assert why is not None and why.startswith("model.safetensors is cut off"), (keep, why)
    (folder / "model.safetensors").unlink()
    index = {"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "model-1.safetensors").write_bytes(whole)
    assert incomplete_model_folder(folder) == "model-2.safetensors missing"
    (folder / "model.safetensors.index.json").unlink()
    assert incomplete_model_folder(folder) == "no model.safetensors or pytorch_model.bin"
    torch.save({"w": torch.zeros(1000)}, folder / "pytorch_model.bin")
    assert incomplete_model_folder(folder) is None
    os.truncate(folder / "pytorch_model.bin", 3000)
    assert str(incomplete_model_folder(folder)).startswith("pytorch_model.bin: not a whole zip")
    (folder / "config.json").unlink()
    assert incomplete_model_folder(folder) == "no config.json"
    adapters = tmp_path / "adapters"  # a LoRA adapters export: no config.json of its own
    adapters.mkdir()
    (adapters / "adapter_config.json").write_text("{}")
    assert incomplete_model_folder(adapters) == "no adapter_model.safetensors or adapter_model.bin"
    (adapters / "adapter_model.safetensors").write_bytes(whole[: len(whole) // 2])
    assert str(incomplete_model_folder(adapters)).startswith("adapter_model.safetensors is cut")


def test_output_folders_that_cannot_be_written_fail_at_launch(
    prepared: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Were tracebacks at the first checkpoint, after the model was built and had trained."""
    import errno

    from biomedlm.outputs import check_outputs
    from biomedlm.train import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = tmp_path / "run"
    args = [
        str(DEBUG),
        *data_overrides(),
        f"run_dir={run}",
        "max_duration=1ba",
        "save_interval=1ba",
    ]
    assert main([*args, f"save_folder={blocker / 'checkpoints'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: save_folder: cannot write to {blocker / 'checkpoints'} ({blocker} is not a "
        "folder); point it at a folder this run can write"
    ]
    assert not run.exists()  # refused before anything was written

    recipe = load_recipe(DEBUG, [f"run_dir={run}"], components=False)
    check_outputs(recipe)  # writable: nothing created by the check
    assert not run.exists()

    def read_only(*args: object, **kwargs: object) -> object:  # a read-only mount, even to root
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("tempfile.TemporaryFile", read_only)
    with pytest.raises(RecipeError) as caught:
        check_outputs(recipe)
    assert str(caught.value) == (
        f"run_dir: cannot write to {run} ({tmp_path}: Read-only file system); point it at a "
        "folder this run can write"
    )


def test_read_only_shards_are_read_through_a_cache(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streaming decompresses shards beside them: a read-only folder is read as a remote."""
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    monkeypatch.setattr(
        "biomedlm.preflight.writable", lambda folder: not str(folder).startswith(str(data))
    )
    recipe = load_recipe(
        DEBUG,
        [*data_overrides(data), f"run_dir={tmp_path / 'run'}"],
        components=False,
    )
    facts = preflight(recipe)
    stream = to_foundry(recipe, facts)["train_loader"]["dataset"]["streams"]["pubmed"]
    assert stream["remote"] == str(data)
    assert stream["local"] == str(tmp_path / "run" / "stream_cache" / "train_loader" / "pubmed")


def test_read_only_data_trains(prepared: Path, tmp_path: Path) -> None:
    """The translated read-only stream (remote: the folder, local: a cache) really loads."""
    from llmfoundry.data.text_data import build_text_dataloader
    from transformers import AutoTokenizer

    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    for path in (data / "train").glob("*.mds"):  # as shipped by data_prep: compressed only
        path.unlink()
    cache = tmp_path / "cache"
    streams = {"pubmed": {"remote": str(data), "local": str(cache), "split": "train"}}
    spec = build_text_dataloader(
        tokenizer=AutoTokenizer.from_pretrained(prepared / "tokenizer"),
        device_batch_size=2,
        dataset={"streams": streams, "max_seq_len": 256, "shuffle": False, "eos_token_id": 0},
        drop_last=True,
        num_workers=0,
        prefetch_factor=None,
        persistent_workers=False,
    )
    batch = next(iter(spec.dataloader))
    assert batch["input_ids"].shape == (2, 256)
    assert not list((data / "train").glob("*.mds"))  # nothing written beside the shards
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["splits"]["train"]["samples"] > 0


@pytest.mark.parametrize(
    ("recipe", "overrides", "setting"),
    [
        (BIG, [], "precision: amp_bf16"),
        (
            DEBUG,
            ["fsdp_config.mixed_precision={param_dtype: bf16}"],
            "fsdp_config.mixed_precision.param_dtype: bf16",
        ),
    ],
)
def test_bf16_on_a_gpu_without_bf16_fails_at_launch(
    monkeypatch: pytest.MonkeyPatch, recipe: Path, overrides: list[str], setting: str
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr("biomedlm.preflight.cuda_available", lambda: True)
    loaded = load_recipe(recipe, overrides, components=False)
    monkeypatch.setattr("torch.cuda.is_bf16_supported", lambda: True)
    assert check_machine(loaded)  # an Ampere or newer GPU: trains
    monkeypatch.setattr("torch.cuda.is_bf16_supported", lambda: False)  # e.g. a V100 or T4
    with pytest.raises(
        RecipeError, match=rf"^{setting} needs a GPU that computes in bf16"
    ) as caught:
        check_machine(loaded)
    assert "\n" not in str(caught.value)
    fp16 = load_recipe(DEBUG, ["precision=amp_fp16"], components=False)
    assert check_machine(fp16)  # no bf16 asked for: nothing to refuse
