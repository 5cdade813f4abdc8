"""One checkpoint, one name and one predictions folder: in-context and fine-tuned scoring alike."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from biomedlm.trained.names import safe_name
from eval_gauntlet.results import write_predictions
from eval_gauntlet.rows import Checkpoint, read_rows

ARGS = ["--tasks", "medqa_4options", "--sample", "2", "--shots", "0", "--no-progress"]


def test_a_checkpoint_through_a_link_is_named_after_it_in_context_and_fine_tuned(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from biomedlm.recipe_kinds import load_recipe
    from eval_gauntlet.__main__ import main
    from eval_gauntlet.finetuned.scoring import load_finetuned
    from tests.fixtures.runs import GENERATION_DEBUG

    export = shutil.copytree(tiny_dir, tmp_path / "hf" / "huggingface" / "ba4")
    link = tmp_path / "latest"
    link.symlink_to(export)
    out = tmp_path / "eval"
    assert main(["score", str(link), "--out", str(out), *ARGS]) == 0
    assert {row["checkpoint"] for row in read_rows(out / "results.jsonl")} == {"ba4"}
    assert [p.name for p in (out / "predictions").iterdir()] == ["ba4"]
    recipe = load_recipe(GENERATION_DEBUG, ["model.init_from=x"], components=False)
    for path in (export, link):
        named = load_finetuned(path, recipe).checkpoint
        assert named == Checkpoint(f"{recipe.run_name}-ba4", 4, None)


@pytest.mark.parametrize("name", ["pubmedqa-debug-cpu-ep0-ba4-rank0", "my run/é:ba4", "..x"])
def test_in_context_and_fine_tuned_predictions_of_one_name_share_one_folder(
    tmp_path: Path, name: str
) -> None:
    from eval_gauntlet.finetuned.choice import Scored, _write_predictions

    checkpoint = Checkpoint(name)
    result = SimpleNamespace(task=SimpleNamespace(name="medqa"), shots=0, predictions=[])
    write_predictions(tmp_path, checkpoint, result)  # type: ignore[arg-type]
    _write_predictions(tmp_path, checkpoint, Scored("medqa", None, [], [], []))
    (folder,) = (tmp_path / "predictions").iterdir()
    assert folder.name == safe_name(name)
    assert sorted(p.name for p in folder.iterdir()) == ["medqa.0shot.jsonl", "medqa.test.jsonl"]
