"""The after-fit scoring callback: a run trained further by a relaunch scores again under its run
name, and each score keeps its predictions (its own alone)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from biomedlm.recipe_files import resolved
from biomedlm.recipe_kinds import load_recipe
from eval_gauntlet.finetuned import scoring
from eval_gauntlet.finetuned.callback import FinetuneEval
from eval_gauntlet.rows import FINETUNE, Checkpoint, predictions_path, result_row, write_jsonl
from tests.fixtures.choice import build_model, tokenizer_for
from tests.fixtures.paths import REPO

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_run_scored_again_after_more_training_keeps_each_scores_predictions(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the recipe names the shipped MedQA file relative to the repository
    out = tmp_path / "eval"
    recipe = load_recipe(
        REPO / "recipes" / "finetune" / "medqa-debug-cpu.yaml",
        [f"model.init_from={tiny_dir}", "data.test_limit=8", "data.max_length=96",
         f"eval.out={out}", "eval.bootstrap_iters=20"],
        components=False,
    )  # fmt: skip
    callback = FinetuneEval(resolved(recipe))
    tokenizer = tokenizer_for("multiple_choice", tiny_dir, tmp_path)
    logger = SimpleNamespace(log_metrics=lambda metrics: None)
    for step, seed in ((4, 0), (8, 1)):  # the relaunch's model: other weights
        state = SimpleNamespace(
            model=build_model("multiple_choice", tiny_dir, tokenizer, seed=seed),
            timestamp=SimpleNamespace(batch=step, token=100 * step),
            device=SimpleNamespace(tensor_to_device=lambda t: t),
            precision=SimpleNamespace(value="fp32"),
        )
        callback.fit_end(state, logger)  # type: ignore[arg-type]
    rows = [json.loads(line) for line in (out / "results.jsonl").open()]
    assert [(r["checkpoint"], r["step"]) for r in rows] == [
        ("medqa-debug-cpu", 4),
        ("medqa-debug-cpu", 8),
    ]
    folder = out / "predictions" / "medqa-debug-cpu"
    for row, path in zip(rows, (folder / "ba4", folder / "ba8"), strict=True):
        assert row["predictions"] == str(path / "medqa_heldout.test.jsonl")  # not the latest's
        scores = [json.loads(line) for line in (path / "medqa_heldout.test.jsonl").open()]
        assert sum(p["correct"] for p in scores) / len(scores) == row["value"]
        assert torch.tensor([p["scores"] for p in scores]).isfinite().all()
    latest = (folder / "medqa_heldout.test.jsonl").read_text()  # the paper table's and the demo's
    assert latest == (folder / "ba8" / "medqa_heldout.test.jsonl").read_text()
    assert latest != (folder / "ba4" / "medqa_heldout.test.jsonl").read_text()


def test_each_step_keeps_only_the_predictions_its_score_wrote(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relaunch drops an ``eval.extra`` set: its file of the earlier step stays beside the
    latest, but ``ba<step>/`` holds what that step scored alone."""
    out = tmp_path / "eval"
    recipe = load_recipe(
        REPO / "recipes" / "finetune" / "medqa-debug-cpu.yaml",
        [f"model.init_from={tiny_dir}", f"eval.out={out}"],
        components=False,
    )
    scored = {4: ["medqa", "mmlu_anatomy"], 8: ["medqa"]}

    def score(model: object, tokenizer: object, recipe: object, checkpoint: Checkpoint,
              **how: object) -> list[dict[str, object]]:  # fmt: skip
        assert checkpoint.step is not None
        rows = []
        for task in scored[checkpoint.step]:
            path = predictions_path(out, checkpoint, f"{task}.test.jsonl")
            write_jsonl(path, [{"step": checkpoint.step}])
            rows.append(
                result_row(
                    checkpoint, FINETUNE, task, metric="acc", value=1.0, predictions=str(path)
                )
            )
        return rows

    monkeypatch.setitem(scoring.SCORERS, "multiple_choice", score)  # the family's scorer
    callback = FinetuneEval(resolved(recipe))
    for step in scored:
        state = SimpleNamespace(model=None, timestamp=SimpleNamespace(batch=step, token=0),
                                device=SimpleNamespace(tensor_to_device=lambda t: t),
                                precision=SimpleNamespace(value="fp32"))  # fmt: skip
        callback.fit_end(state, SimpleNamespace(log_metrics=lambda m: None))  # type: ignore[arg-type]
    folder = out / "predictions" / "medqa-debug-cpu"
    for step, tasks in scored.items():
        kept = sorted(p.name for p in (folder / f"ba{step}").iterdir())
        assert kept == [f"{task}.test.jsonl" for task in tasks]
        assert all(f'"step": {step}' in (folder / f"ba{step}" / n).read_text() for n in kept)
