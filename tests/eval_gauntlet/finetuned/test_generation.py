"""Scoring generated text: ROUGE and BLEU by hand and by reference, the rows and pages written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from eval_gauntlet.finetuned.text_metrics import bleu, rouge, text_metrics
from tests.fixtures.runs import GENERATION_DEBUG


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
    # F 1.0 and 0.0: the bootstrap's median mean of two is 50 (x100, as the scripts report)
    assert by_name["rougeL"].value == pytest.approx(50.0)
    assert by_name["words_generated"].value == 2.5 and by_name["words_reference"].value == 3.5
    assert np.array_equal(per_example["rouge1"], [100.0, 0.0])
    assert {m.scale for m in metrics} == {100.0, None}  # ROUGE and BLEU 0-100, lengths in words


def scripts_rouge(output_lns: list[str], reference_lns: list[str], seed: int) -> dict[str, float]:
    """ROUGE as stanford-crfm/BioMedLM's finetune/textgen/gpt2/run_generation_batch.py reports it:
    ``set_seed`` (numpy's global generator), ``calculate_rouge`` per test batch of 9
    (``--batch_size 9``, the data loader unshuffled), then ``test_epoch_end``'s mean over batches.
    The two functions are the script's, as written."""
    from rouge_score import rouge_scorer, scoring

    rouge_keys = ["rouge1", "rouge2", "rougeL"]

    def calculate_rouge(output_lns, reference_lns, use_stemmer=True):  # type: ignore[no-untyped-def]
        scorer = rouge_scorer.RougeScorer(rouge_keys, use_stemmer=use_stemmer)
        aggregator = scoring.BootstrapAggregator()
        for reference_ln, output_ln in zip(reference_lns, output_lns):  # noqa: B905
            scores = scorer.score(reference_ln, output_ln)
            aggregator.add_scores(scores)
        result = aggregator.aggregate()
        return {k: round(v.mid.fmeasure * 100, 4) for k, v in result.items()}

    np.random.seed(seed)
    outputs = [
        calculate_rouge(output_lns[i : i + 9], reference_lns[i : i + 9])
        for i in range(0, len(output_lns), 9)
    ]
    return {k: np.array([x[k] for x in outputs]).mean() for k in rouge_keys}


def test_rouge_is_reported_as_the_biomedlm_scripts_compute_it() -> None:
    """40 pairs (five batches of 9 and one of 4): the same numbers as the scripts' own code, not
    the mean of per-example F; numpy's global random state is left as it was."""
    import random

    rng = random.Random(0)
    vocab = ["the", "a", "patient", "drug", "dose", "pain", "fever", "treat", "cause", "risk",
             "test", "blood", "heart", "lung"]  # fmt: skip
    references = [" ".join(rng.choices(vocab, k=rng.randint(4, 12))) for _ in range(40)]
    generated = [
        " ".join(w if rng.random() < 0.6 else rng.choice(vocab) for w in ref.split()[: rng.randint(2, 12)])
        for ref in references
    ]  # fmt: skip
    np.random.seed(5)
    before = np.random.random()
    np.random.seed(5)
    metrics, per_example = text_metrics(generated, references, seed=42, iters=200)
    assert np.random.random() == before
    by_name = {m.name: m for m in metrics}
    expected = scripts_rouge(generated, references, seed=42)
    for key in ("rouge1", "rouge2", "rougeL"):
        assert by_name[key].value == pytest.approx(expected[key], abs=1e-9), key
        assert by_name[key].scale == 100.0 and "BootstrapAggregator" in str(
            by_name[key].aggregation
        )
        mean = per_example[key].mean()  # x100 as well: the scripts' aggregation differs from it
        assert 5.0 < mean < 95.0 and by_name[key].value != pytest.approx(mean, abs=1e-6)
        assert by_name[key].ci_low < mean < by_name[key].ci_high
    assert expected == scripts_rouge(generated, references, seed=42)  # seeded: reproducible


def test_score_generation_writes_rows_predictions_and_the_sample_page(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from biomedlm.generate import NOT_MEDICAL_ADVICE
    from biomedlm.recipe_kinds import load_recipe
    from eval_gauntlet.finetuned.scoring import load_finetuned as load
    from eval_gauntlet.finetuned.scoring import score_finetuned
    from eval_gauntlet.rows import Checkpoint

    data = tmp_path / "qa.jsonl"
    types = ["treatment", "symptoms", "causes"]
    data.write_text("".join(
        json.dumps({"id": f"q{i}", "prompt": f"What is condition {i} ?",
                    "response": f"Condition {i} is a disorder.", "qtype": types[i % 3]}) + "\n"
        for i in range(60)
    ))  # fmt: skip
    out = tmp_path / "eval"
    recipe = load_recipe(GENERATION_DEBUG, [
        f"run_dir={tmp_path / 'run'}", "data.format=jsonl", f"data.train=[{data}]",
        "data.split={validation: 0.0, test: 0.3, seed: 0}", "data.test_limit=10",
        "eval.samples=4", "eval.decoding.max_new_tokens=6", f"eval.out={out}",
    ], components=False)  # fmt: skip
    loaded = load(tiny_dir, recipe)  # the family interface of `eval_gauntlet finetuned`
    assert loaded.checkpoint == Checkpoint(f"patient-qa-debug-cpu-{tiny_dir.name}", None, None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only spin-wait on a busy machine
    try:
        rows = score_finetuned(loaded.model, loaded.tokenizer, recipe, Checkpoint("ba30", 30, 100))
    finally:
        torch.set_num_threads(threads)
    assert [r["metric"] for r in rows] == ["rouge1", "rouge2", "rougeL", "bleu", "words_generated",
                                           "words_reference"]  # fmt: skip
    assert {(r["kind"], r["family"], r["task"], r["split"], r["n"], r["step"]) for r in rows} == {
        ("finetune", "generation", "qa", "test", 10, 30)}  # fmt: skip
    assert all(r["ci95"][0] <= r["value"] <= r["ci95"][1] for r in rows)
    assert {(r["init_from"], r["truncated"], r["decoding"]["max_new_tokens"]) for r in rows} == {
        (recipe.model.init_from, 0, 6)}  # fmt: skip
    written = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert written == rows
    table = (out / "results.md").read_text()
    assert "| qa | generation | test | rougeL ‡1 | 10 |" in table and "| bleu ‡2 | 10 |" in table
    assert "‡1 x100, the mean over batches of 9 test examples" in table
    assert (out / "results.png").is_file()
    predictions = [
        json.loads(x) for x in (out / "predictions/ba30/qa.test.jsonl").read_text().splitlines()
    ]
    assert len(predictions) == 10 and {"id", "qtype", "source", "reference", "generated",
                                       "rougeL", "words_generated"} <= predictions[0].keys()  # fmt: skip
    page = (out / "samples/ba30/qa.test.md").read_text()
    assert NOT_MEDICAL_ADVICE in page and "## By question type" in page
    assert page.count("**Reference**") == 4 and all(f"({t})" in page for t in types)


def test_each_fine_tuned_panel_is_scaled_to_its_metric() -> None:
    """BLEU and ROUGE on 0-100, accuracy on 0-1, lengths in words up to their values: none of
    them drawn off a fixed 0-1 axis."""
    from matplotlib.figure import Figure

    from eval_gauntlet.plot import draw_finetune_panel

    xs = {"ba10": 10.0, "ba20": 20.0}
    for metric, values, scale, top in (
        ("bleu", (12.0, 31.5), 100.0, 100.0),
        ("rougeL", (20.0, 38.0), 100.0, 100.0),
        ("acc", (0.4, 0.7), None, 1.0),
        ("words_generated", (35.0, 42.0), None, None),
    ):
        rows = [
            {"checkpoint": name, "task": "qa", "split": "test", "metric": metric, "value": v,
             "ci95": [0.9 * v, 1.1 * v], **({"scale": scale} if scale else {})}
            for name, v in zip(xs, values, strict=True)
        ]  # fmt: skip
        ax = Figure().subplots()
        draw_finetune_panel(ax, f"qa {metric}", rows, xs, "step")
        low, high = ax.get_ylim()
        assert low == 0.0 and high >= 1.1 * max(values), metric  # the band fits
        assert top is None or high == top, metric


def test_a_generation_recipe_names_its_rows_eval_name_and_refuses_eval_extra(
    tmp_path: Path,
) -> None:
    """Both keys loaded and were ignored: rows kept the format's name, extra sets went unscored
    (and `eval_gauntlet finetuned --data.test` logged a name its rows did not get)."""
    from biomedlm.recipe_kinds import load_recipe
    from biomedlm.settings import RecipeError
    from eval_gauntlet.finetuned.generation import task_name

    def load(*overrides: str) -> Any:
        given = [f"run_dir={tmp_path / 'run'}", "model.init_from=x", *overrides]
        return load_recipe(GENERATION_DEBUG, given, components=False)

    assert task_name(load()) == "medquad"
    assert task_name(load("eval.name=my_patient_answers")) == "my_patient_answers"
    extra = "eval.extra={other: {path: [x.jsonl], format: medqa}}"
    with pytest.raises(RecipeError, match=r"eval\.extra: more test sets are scored for multi"):
        load(extra)
