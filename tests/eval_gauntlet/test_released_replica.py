"""The released BioMedLM as users get it (a hub id, its layout: vocabulary 28,896, EOS 28895, no
pad token, ``vocab.json`` + ``merges.txt``) fine-tunes with each family and scores in the gauntlet.

A 2-layer replica (:mod:`tests.fixtures.released`) in a local hub cache under ``tmp_path``,
read offline: each family's CPU recipe trains 2 batches of 4 from ``model.init_from=<hub id>`` and
scores 4 test items after fit (its rows in results.jsonl); the in-context gauntlet scores the hub id on 2 items of a task.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval_gauntlet.rows import RESULTS, read_rows
from tests.fixtures.paths import REPO
from tests.fixtures.released import RELEASED, hub_cache, released_replica

FAMILIES = {  # the recipe of each family, and the task its rows are named after
    "multiple_choice": ("medqa-debug-cpu", "medqa_heldout"),
    "classification": ("pubmedqa-debug-cpu", "pubmedqa"),
    "generation": ("patient-qa-debug-cpu", "medquad"),
}
FEW = [  # 2 batches of 4, one checkpoint, 4 test items scored
    "global_train_batch_size=4", "device_train_microbatch_size=4", "device_eval_batch_size=4",
    "data.train_limit=8", "data.test_limit=4", "max_duration=2ba", "eval_interval=1000ba",
    "eval_subset_num_batches=1", "save_interval=1dur", "eval.bootstrap_iters=20",
    "callbacks.finetune_export.save_interval=1dur", "progress_bar=false",
]  # fmt: skip
SHORT = {  # sequences of 64 tokens (the recipe's 256 for a patient's question and its answer)
    "multiple_choice": ["data.max_length=64"],
    "classification": ["data.max_length=64"],
    "generation": ["eval.decoding.max_new_tokens=4", "eval.decoding.num_beams=1", "eval.samples=1"],
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub cache that holds the replica as ``RELEASED``."""
    folder = tmp_path_factory.mktemp("hub")
    hub_cache(folder, RELEASED, released_replica(tmp_path_factory.mktemp("replica")))
    return folder


@pytest.fixture
def released(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub reading ``cache`` alone (offline); the repository as working directory."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(REPO)  # the recipes' data paths


@pytest.mark.slow  # three short fine-tunes: about 25 s on 2 cores
@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_released_layout_fine_tunes_from_its_hub_id_with_each_family(
    family: str, released: None, tmp_path: Path
) -> None:
    from biomedlm.train import main

    recipe, task = FAMILIES[family]
    run_dir = tmp_path / "run"
    args = [f"recipes/finetune/{recipe}.yaml", f"model.init_from={RELEASED}", f"run_dir={run_dir}"]
    assert main([*args, *FEW, *SHORT[family]]) == 0
    rows = [r for r in read_rows(run_dir / "eval" / RESULTS) if r.get("task") == task]
    assert rows and {r["family"] for r in rows} == {family}
    assert {r["n"] for r in rows} == {4}


def test_the_gauntlet_scores_the_released_layout_by_its_hub_id(
    released: None, tmp_path: Path
) -> None:
    from eval_gauntlet.__main__ import main

    out = tmp_path / "eval"
    assert (
        main(
            [
                "score",
                RELEASED,
                "--tasks",
                "pubmedqa",
                "--limit",
                "2",
                "--shots",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = [r for r in read_rows(out / RESULTS) if r["task"] == "pubmedqa"]
    assert rows and {r["checkpoint"] for r in rows} == {RELEASED}
