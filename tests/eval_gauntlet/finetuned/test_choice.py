"""After-fit scoring of a multiple-choice model: MMLU's medical subjects one by one, and pooled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from biomedlm.finetune.choice.model import ChoiceModel
from biomedlm.recipe_kinds import load_recipe
from eval_gauntlet.finetuned.scoring import score_finetuned
from eval_gauntlet.rows import Checkpoint
from tests.fixtures.choice import build_model, tokenizer_for
from tests.fixtures.paths import REPO

pytestmark = pytest.mark.usefixtures("one_thread")
SUBJECTS = (
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
)


def test_mmlu_subjects_are_scored_one_by_one_and_pooled(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the recipe names the gauntlet's MMLU file relative to the repository
    recipe = load_recipe(
        REPO / "recipes" / "finetune" / "medmcqa-medqa.yaml",
        [
            f"model.init_from={tiny_dir}",
            "data.test=[]",
            "data.test_limit=6",
            "data.max_length=256",
            f"eval.out={tmp_path / 'eval'}",
        ],
        components=False,
    )
    tokenizer = tokenizer_for("multiple_choice", tiny_dir, tmp_path)
    model = build_model("multiple_choice", tiny_dir, tokenizer)
    rows = score_finetuned(model, tokenizer, recipe, Checkpoint("tiny-mc", 3, None), device="cpu")
    by_task = {row["task"]: row for row in rows}
    assert list(by_task) == [f"mmlu_{s}" for s in SUBJECTS] + ["mmlu_medical"]
    assert all(by_task[f"mmlu_{s}"]["n"] == 6 for s in SUBJECTS)
    pooled = by_task["mmlu_medical"]
    assert pooled["n"] == 36 and pooled["members"] == [f"mmlu_{s}" for s in SUBJECTS]
    assert pooled["value"] == pytest.approx(
        sum(by_task[f"mmlu_{s}"]["value"] for s in SUBJECTS) / 6
    )
    low, high = pooled["ci95"]
    assert low <= pooled["value"] <= high and pooled["kind"] == "finetune" and pooled["step"] == 3

    mmlu = [json.loads(line) for line in (REPO / "medtasks/data/mmlu_medical_test.jsonl").open()]
    predictions = tmp_path / "eval" / "predictions" / "tiny-mc"
    batch_scores = []
    for subject in SUBJECTS:
        lines = [json.loads(line) for line in (predictions / f"mmlu_{subject}.test.jsonl").open()]
        expected = [r for r in mmlu if r["subject"] == subject][:6]
        assert [p["key"] for p in lines] == [str(r["realidx"]) for r in expected]
        assert [p["gold"] for p in lines] == ["ABCD".index(r["answer_idx"]) for r in expected]
        assert all(p["pred"] == max(range(4), key=p["scores"].__getitem__) for p in lines)
        batch_scores += [p["scores"] for p in lines]
        correct = sum(p["correct"] for p in lines) / 6
        assert by_task[f"mmlu_{subject}"]["value"] == pytest.approx(correct)
    assert torch.tensor(batch_scores).isfinite().all()
    table = (tmp_path / "eval" / "results.md").read_text()
    assert "| mmlu_medical | multiple_choice | test | acc | 36 |" in table
    assert (tmp_path / "eval" / "results.png").is_file()


def test_finetune_eval_callback_survives_fit_start_and_end_twice(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every callback (tests/biomedlm/test_callback_contract.py): built by llm-foundry's registry."""
    from composer import Trainer
    from composer.core import Event
    from llmfoundry.utils.builders import build_callback

    from biomedlm.recipe_files import resolved

    monkeypatch.chdir(REPO)
    recipe = load_recipe(
        REPO / "recipes" / "finetune" / "pubmedqa-debug-cpu.yaml",
        [f"model.init_from={tiny_dir}", "data.test_limit=5", f"eval.out={tmp_path / 'eval'}"],
        components=False,
    )
    tokenizer = tokenizer_for("classification", tiny_dir, tmp_path)
    model = ChoiceModel(tokenizer, str(tiny_dir), "classification", labels=("yes", "no", "maybe"))
    callback = build_callback("finetune_eval", {"recipe": resolved(recipe)})
    batch = {"input_ids": torch.ones(2, 4, dtype=torch.long), "attention_mask": torch.ones(2, 4)}
    trainer = Trainer(
        model=model,
        train_dataloader=[{**batch, "labels": torch.zeros(2, dtype=torch.long)}],
        device_train_microbatch_size=2,
        max_duration="1ba",
        callbacks=[callback],
        device="cpu",
        progress_bar=False,
    )
    from composer.core import Time

    # as if trained 3 batches of 32 tokens: the rows record the tokens seen, as the gauntlet's
    trainer.state.timestamp = trainer.state.timestamp.copy(
        batch=Time(3, "ba"), token=Time(96, "tok")
    )
    for event in (Event.FIT_START, Event.FIT_END, Event.FIT_START, Event.FIT_END):
        trainer.engine.run_event(event)
    trainer.close()
    rows = [json.loads(line) for line in (tmp_path / "eval" / "results.jsonl").open()]
    assert [(r["task"], r["n"], r["checkpoint"], r["step"], r["tokens"]) for r in rows] == [
        ("pubmedqa", 5, "pubmedqa-debug-cpu", 3, 96)
    ] * 2


def test_a_multiple_choice_export_scored_later_is_labelled_as_scored(
    tiny_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Scored later: step from the export's name, the task named after data.test, init_from
    unknown; and the in-context ``score`` refuses it rather than drop its head silently."""
    from biomedlm.finetune.choice.model import TASK_KEY
    from biomedlm.finetune.export import FinetuneExport
    from eval_gauntlet.__main__ import main
    from eval_gauntlet.scoring import FINETUNED_TASK_KEY
    from tests.fixtures.choice import batches, train

    assert FINETUNED_TASK_KEY == TASK_KEY
    tokenizer = tokenizer_for("multiple_choice", tiny_dir, tmp_path)
    model = build_model("multiple_choice", tiny_dir, tokenizer)
    data = batches("multiple_choice", tokenizer, tmp_path)  # writes tmp_path/data.jsonl
    train(model, data, tmp_path, [FinetuneExport(str(tmp_path / "hf"), "1dur")])
    export = tmp_path / "hf" / "huggingface" / f"ba{len(data)}"
    monkeypatch.chdir(REPO)
    args = [
        "finetuned", str(export), "recipes/finetune/medqa-debug-cpu.yaml",
        f"data.test=[{tmp_path / 'data.jsonl'}]", f"eval.out={tmp_path / 'eval'}",
    ]  # fmt: skip
    assert main(args) == 0
    (row,) = [json.loads(line) for line in (tmp_path / "eval" / "results.jsonl").open()]
    assert (row["task"], row["step"], row["init_from"], row["n"]) == ("data", len(data), None, 8)
    capsys.readouterr()
    assert main(["score", str(export), "--out", str(tmp_path / "ic"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "multiple_choice fine-tune" in err and "finetuned" in err
    assert not (tmp_path / "ic" / "results.jsonl").exists()


@pytest.mark.parametrize("task", ["multiple_choice", "generation"])
def test_a_cut_off_or_partial_export_is_one_line(
    tiny_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    task: str,
) -> None:
    """Was a traceback from transformers while the multiple-choice model was built."""
    import shutil

    from eval_gauntlet.__main__ import main

    export = tmp_path / "hf" / "huggingface" / "ba4"
    if task == "multiple_choice":
        tokenizer = tokenizer_for(task, tiny_dir, tmp_path)
        build_model(task, tiny_dir, tokenizer).model.save_pretrained(export)
        tokenizer.save_pretrained(export)
    else:
        shutil.copytree(tiny_dir, export)
    weights = export / "model.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])  # the disk filled up mid-export
    recipe = "medqa-debug-cpu" if task == "multiple_choice" else "patient-qa-debug-cpu"
    args = ["finetuned", str(export), f"recipes/finetune/{recipe}.yaml"]
    monkeypatch.chdir(REPO)
    capsys.readouterr()
    assert main([*args, f"eval.out={tmp_path / 'eval'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {export}: an incomplete model folder (model.safetensors is cut off at "
        f"{size // 2:,} of {size:,} bytes); "
    )
    assert err.count("\n") == 1
    weights.unlink()  # a partial export: its config and tokenizer, no weights yet
    assert main([*args, f"eval.out={tmp_path / 'eval'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {export}: an incomplete model folder (no model.safetensors or pytorch_model.bin); "
    )
    assert err.count("\n") == 1
    assert not (tmp_path / "eval" / "results.jsonl").exists()
