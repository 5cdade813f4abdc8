"""The recipe's data: several streams in proportion, a remote copied to its local cache, seeded order."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from streaming import MDSWriter
from streaming.base.util import clean_stale_shared_memory

from biomedlm.foundry_config import to_foundry
from biomedlm.preflight import LaunchFacts
from biomedlm.recipe_kinds import load_recipe
from tests.fixtures import runs
from tests.fixtures.paths import REPO

SEQ = 256


def shards(folder: Path, value: int, samples: int) -> Path:
    """MDS shards (``train`` split) whose every token is ``value``: each sample names its stream."""
    with MDSWriter(out=str(folder / "train"), columns={"tokens": f"ndarray:uint16:{SEQ}"}) as out:
        for _ in range(samples):
            out.write({"tokens": np.full(SEQ, value, dtype=np.uint16)})
    return folder


def recipe_with(tmp_path: Path, streams: dict[str, Any], **loader: Any) -> Path:
    raw = yaml.safe_load((REPO / "recipes" / "pretrain" / "debug-cpu.yaml").read_text())
    assert runs.DATA is not None
    raw["tokenizer"]["path"] = str(runs.DATA / "tokenizer")
    raw["train_loader"] = {**raw["train_loader"], "streams": streams, **loader}
    raw["eval_loader"]["streams"]["pubmed"]["local"] = str(runs.DATA)
    raw["run_dir"] = str(tmp_path / "run")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def first_tokens(recipe_path: Path, batches: int) -> list[int]:
    """The stream marker of each sample the recipe's train loader yields, in order."""
    from llmfoundry.data.text_data import build_text_dataloader
    from transformers import AutoTokenizer

    clean_stale_shared_memory()
    recipe = load_recipe(recipe_path)
    facts = LaunchFacts(eos_id=0, n_tokens=0, on_gpu=False)
    loader = dict(to_foundry(recipe, facts)["train_loader"])
    loader.pop("name")
    tokenizer = AutoTokenizer.from_pretrained(recipe.tokenizer.path)
    spec = build_text_dataloader(
        tokenizer=tokenizer, device_batch_size=recipe.global_train_batch_size, **loader
    )
    seen: list[int] = []
    for i, batch in enumerate(spec.dataloader):
        if i == batches:
            break
        seen += batch["input_ids"][:, 0].tolist()
    return seen


def test_streams_are_mixed_in_their_proportions(prepared: Path, tmp_path: Path) -> None:
    streams = {
        "abstracts": {"local": str(shards(tmp_path / "abstracts", 5, 60)), "proportion": 0.75},
        "fulltext": {"local": str(shards(tmp_path / "fulltext", 7, 60)), "proportion": 0.25},
    }
    seen = first_tokens(recipe_with(tmp_path, streams), batches=15)  # one epoch: 120 samples
    assert Counter(seen) == {5: 90, 7: 30}


def test_a_remote_stream_is_copied_into_its_local_cache(prepared: Path, tmp_path: Path) -> None:
    remote = shards(tmp_path / "bucket", 5, 16)  # a path remote: the same code as s3:// or gs://
    cache = tmp_path / "cache"
    streams = {"pubmed": {"remote": str(remote), "local": str(cache)}}
    assert Counter(first_tokens(recipe_with(tmp_path, streams), batches=2)) == {5: 16}
    assert (cache / "train" / "index.json").is_file() and list((cache / "train").glob("*.mds"))


def test_shuffling_is_seeded(prepared: Path, tmp_path: Path) -> None:
    folder = tmp_path / "numbered" / "train"
    with MDSWriter(out=str(folder), columns={"tokens": f"ndarray:uint16:{SEQ}"}) as out:
        for i in range(64):
            out.write({"tokens": np.full(SEQ, i + 1, dtype=np.uint16)})
    streams = {"pubmed": {"local": str(folder.parent)}}

    def order(seed: int) -> list[int]:
        return first_tokens(recipe_with(tmp_path, streams, shuffle_seed=seed), batches=8)

    first, again, other = order(1), order(1), order(2)
    assert first == again and sorted(first) == list(range(1, 65))
    assert first != other and first != sorted(first)
