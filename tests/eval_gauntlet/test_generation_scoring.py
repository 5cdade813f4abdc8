"""Scoring generated text: ROUGE and BLEU by hand and by reference, the rows and pages written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eval_gauntlet.finetuned.text_metrics import bleu, rouge, text_metrics

REPO = Path(__file__).resolve().parents[2]
DEBUG_RECIPE = REPO / "recipes" / "finetune" / "patient-qa-debug-cpu.yaml"


def test_rouge_on_a_hand_computed_pair() -> None:
    """reference 'the cat sat on the mat', generated 'the cat lay on the mat':
    unigrams in common 5 of 6 each side (F 5/6); bigrams the-cat, on-the, the-mat: 3 of 5 (F 0.6);
    longest common subsequence 'the cat on the mat': 5 of 6 (F 5/6)."""
    scores = rouge(["the cat lay on the mat"], ["the cat sat on the mat"])
    assert scores["rouge1"][0] == pytest.approx(5 / 6)
    assert scores["rouge2"][0] == pytest.approx(0.6)
    assert scores["rougeL"][0] == pytest.approx(5 / 6)
    stemmed = rouge(["Patients were treated"], ["patient treating"])  # Porter stems: patient, treat
    assert stemmed["rouge1"][0] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))


def test_bleu_is_sacrebleus_corpus_bleu_with_an_interval() -> None:
    import sacrebleu

    generated = ["the cat lay on the mat", "a dog ran in the park today", "nothing alike here"]
    references = ["the cat sat on the mat", "a dog ran in the park", "completely different words"]
    value = bleu(generated, references, seed=0, iters=200)
    assert value.value == pytest.approx(sacrebleu.corpus_bleu(generated, [references]).score)
    assert value.ci_low <= value.value <= value.ci_high


def test_text_metrics_give_means_and_lengths() -> None:
    metrics, per_example = text_metrics(["a b c", "d e"], ["a b c", "x y z w"], seed=0, iters=100)
    by_name = {m.name: m for m in metrics}
    assert [m.name for m in metrics] == ["rouge1", "rouge2", "rougeL", "bleu", "words_generated",
                                         "words_reference"]  # fmt: skip
    assert by_name["rougeL"].value == pytest.approx(0.5)  # 1.0 and 0.0
    assert by_name["words_generated"].value == 2.5 and by_name["words_reference"].value == 3.5
    assert np.array_equal(per_example["rouge1"], [1.0, 0.0])


def test_score_generation_writes_rows_predictions_and_the_sample_page(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from biomedlm.generate import NOT_MEDICAL_ADVICE
    from biomedlm.recipe import load_recipe
    from eval_gauntlet.finetuned.generation import load, score
    from eval_gauntlet.results import Checkpoint

    data = tmp_path / "qa.jsonl"
    types = ["treatment", "symptoms", "causes"]
    data.write_text("".join(
        json.dumps({"id": f"q{i}", "prompt": f"What is condition {i} ?",
                    "response": f"Condition {i} is a disorder.", "qtype": types[i % 3]}) + "\n"
        for i in range(60)
    ))  # fmt: skip
    out = tmp_path / "eval"
    recipe = load_recipe(DEBUG_RECIPE, [
        f"run_dir={tmp_path / 'run'}", "data.format=jsonl", f"data.train=[{data}]",
        "data.split={validation: 0.0, test: 0.3, seed: 0}", "data.test_limit=10",
        "eval.samples=4", "eval.decoding.max_new_tokens=6", f"eval.out={out}",
    ], components=False)  # fmt: skip
    loaded = load(tiny_dir, recipe)  # the family interface of `eval_gauntlet finetuned`
    assert loaded.checkpoint == Checkpoint(f"patient-qa-debug-cpu-{tiny_dir.name}", None, None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only spin-wait on a busy machine
    try:
        rows = score(loaded.model, loaded.tokenizer, recipe, Checkpoint("ba30", 30, 100))
    finally:
        torch.set_num_threads(threads)
    assert [r["metric"] for r in rows] == ["rouge1", "rouge2", "rougeL", "bleu", "words_generated",
                                           "words_reference"]  # fmt: skip
    assert {(r["kind"], r["family"], r["task"], r["split"], r["n"], r["step"]) for r in rows} == {
        ("finetune", "generation", "qa", "test", 10, 30)}  # fmt: skip
    assert all(r["ci95"][0] <= r["value"] <= r["ci95"][1] for r in rows)
    written = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert written == rows
    assert "| qa | generation | test | rougeL | 10 |" in (out / "results.md").read_text()
    assert (out / "results.png").is_file()
    predictions = [
        json.loads(x) for x in (out / "predictions/ba30/qa.test.jsonl").read_text().splitlines()
    ]
    assert len(predictions) == 10 and {"id", "qtype", "source", "reference", "generated",
                                       "rougeL", "words_generated"} <= predictions[0].keys()  # fmt: skip
    page = (out / "samples/ba30/qa.test.md").read_text()
    assert NOT_MEDICAL_ADVICE in page and "## By question type" in page
    assert page.count("**Reference**") == 4 and all(f"({t})" in page for t in types)
