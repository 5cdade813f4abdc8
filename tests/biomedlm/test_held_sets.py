"""A training run reads the set data_prep published at its launch, whatever reruns publish after.

Streaming opens shard files by name under the stream's folder, so a run reading through the
published names (``OUTPUT_DIR/train``) read the next set's shards after a rerun: a
"cannot reshape" crash for another ``seq_len``, silently other token ids for another vocabulary.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streaming import StreamingDataset
from streaming.base.util import clean_stale_shared_memory

from biomedlm.foundry_config import to_foundry
from biomedlm.preflight import preflight
from biomedlm.recipe_kinds import load_recipe
from biomedlm.settings import RecipeError
from data_prep.config import load_config
from data_prep.pipeline import run
from data_prep.publish import release_sets
from tests.fixtures.paths import REPO
from tests.fixtures.runs import DEBUG, data_overrides


def samples(stream: dict[str, str], indices: list[int]) -> list[np.ndarray]:
    """Samples of a translated stream, read as llm-foundry's text dataset reads them."""
    clean_stale_shared_memory()
    dataset = StreamingDataset(
        local=stream["local"], remote=stream.get("remote"), split="train", batch_size=1
    )
    return [dataset[i]["tokens"] for i in indices]


def test_an_open_run_keeps_reading_its_set_across_a_rerun(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    shutil.copytree(prepared, data, symlinks=True)  # the published layout: .sets, .current
    reference = tmp_path / "reference"
    shutil.copytree(data / "train", reference / "train")  # the launch's samples, kept aside
    old_set = (data / ".current").resolve()
    recipe = load_recipe(
        DEBUG, [*data_overrides(data), f"run_dir={tmp_path / 'run'}"], components=False
    )
    try:
        cfg = to_foundry(recipe, preflight(recipe))
        assert cfg["tokenizer"]["name"] == str(old_set / "tokenizer")
        stream = cfg["train_loader"]["dataset"]["streams"]["pubmed"]
        clean_stale_shared_memory()
        dataset = StreamingDataset(
            local=stream["local"], remote=stream.get("remote"), split="train", batch_size=1
        )
        n = len(dataset)
        first = dataset[0]["tokens"]  # the run has started reading

        monkeypatch.chdir(REPO)  # the sample config's sources are relative to the repository
        rerun = load_config(
            REPO / "recipes" / "data" / "sample.yaml", [f"output_dir={data}", "pack.seq_len=128"]
        )
        assert run(rerun)["samples"]["seq_len"] == 128  # published while the run reads
        assert (data / ".current").resolve() != old_set

        indices = [0, n // 2, n - 1]
        ours = [dataset[i]["tokens"] for i in indices]  # was: "cannot reshape array of size"
        expected = samples({"local": str(reference)}, indices)
        assert all(np.array_equal(a, b) for a, b in zip(ours, expected, strict=True))
        assert np.array_equal(first, expected[0]) and len(ours[2]) == 256
        assert old_set.is_dir()  # kept: a live run holds it
    finally:
        release_sets()  # as the run's exit does

    # a relaunch takes the new set and checks it (256-token model, 128-token shards)
    with pytest.raises(RecipeError, match=r"hold 128-token samples but model\.max_seq_len is 256"):
        preflight(recipe)
    release_sets()
    run(rerun)  # the next run, nothing to redo: removes the set no one reads any more
    assert not old_set.exists()
    assert json.loads((data / "manifest.json").read_text())["samples"]["seq_len"] == 128


def test_read_only_data_is_cached_per_set(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache of a read-only set is its own: shard names repeat from one set to the next."""
    data = tmp_path / "data"
    shutil.copytree(prepared, data, symlinks=True)
    monkeypatch.setattr("biomedlm.preflight.writable", lambda folder: False)
    recipe = load_recipe(
        DEBUG, [*data_overrides(data), f"run_dir={tmp_path / 'run'}"], components=False
    )
    try:
        stream = to_foundry(recipe, preflight(recipe))["train_loader"]["dataset"]["streams"]
    finally:
        release_sets()
    held = (data / ".current").resolve()
    cache = tmp_path / "run" / "stream_cache" / "train_loader" / "pubmed" / held.name
    assert stream["pubmed"] == {"remote": str(held), "local": str(cache), "split": "train"}
