"""Parity with lm-evaluation-harness 0.4.13 run in-process, by its own protocol, on close calls.

lm-eval gets its own task YAMLs, few-shot samplers and scorer (``benchmarks.lm_eval_reference``):
nothing of the gauntlet's but the rows. The models are randomly initialised at GPT-2's scale, so an item's
choices are often within 1e-3 nats of each other: a different prompt, example, truncation or
rounding changes picks. Every context string, every choice log-likelihood, both picks (``acc``,
``acc_norm``) of every item and each accuracy must agree; the smallest margin between the best
and the second choice is reported (and must be small, or the evidence would be weak).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from benchmarks.lm_eval_reference import (
    UPSTREAM,
    loglikelihoods_of,
    run_lm_eval,
    samples_of,
    task_yaml,
)
from eval_gauntlet.evaluate import GauntletResult, Planned, evaluate_model, plan
from eval_gauntlet.options import Options
from eval_gauntlet.prompts import FORMATS
from eval_gauntlet.scoring import choose, load_hf_model
from eval_gauntlet.tasks import FROM_TEST, LM_EVAL, Task, load_tasks, protocol
from tests.fixtures.paths import DATA

log = logging.getLogger(__name__)
SEED = 1234  # the gauntlet's default --seed and lm-eval's default fewshot_random_seed


def medmcqa_release_row(row: dict[str, Any], index: int) -> dict[str, Any]:
    """A MedMCQA release row (``cop`` counted from 1) holding one of MedQA's questions."""
    options = dict(zip(("opa", "opb", "opc", "opd"), row["options"].values(), strict=True))
    cop = list(row["options"]).index(row["answer_idx"]) + 1
    return {"question": row["question"], "exp": "", "cop": cop, **options,
            "subject_name": "Medicine", "topic_name": None, "id": f"synthetic-{index}",
            "choice_type": "single"}  # fmt: skip


def user_tasks(folder: Path) -> Path:
    """A user's task file over the shipped catalogue: MedQA with a train split, and MedMCQA.

    The shipped MedQA rows from 600 on stand in for MedQA's train split (the release's schema);
    MedMCQA's dev and train splits are MedQA questions written in MedMCQA's release format.
    """
    medqa = [json.loads(line) for line in (DATA / "medqa_usmle_4opt_test.jsonl").open()]
    (folder / "medqa_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in medqa[600:]))
    for name, rows in (("medmcqa_dev", medqa[300:360]), ("medmcqa_train", medqa[400:500])):
        lines = [json.dumps(medmcqa_release_row(r, i)) + "\n" for i, r in enumerate(rows)]
        (folder / f"{name}.jsonl").write_text("".join(lines))
    path = folder / "tasks.yaml"
    path.write_text(
        "include: default\n"
        "tasks:\n"
        "  medqa_train_shots:\n"
        "    data: " + str(DATA / "medqa_usmle_4opt_test.jsonl") + "\n"
        "    fewshot_source: medqa_train.jsonl\n"
        "    format: medqa_4options\n    num_fewshot: [0, 3]\n"
        "    random_baseline: 0.25\n    category: clinical_reasoning\n"
        "  medmcqa:\n"
        "    data: medmcqa_dev.jsonl\n    schema: medmcqa\n    cop_base: 1\n"
        "    format: medmcqa\n    fewshot_source: medmcqa_train.jsonl\n"
        "    num_fewshot: [0, 2]\n    random_baseline: 0.25\n    category: medical_knowledge\n"
    )
    return path


def margin(lls: list[float]) -> float:
    """Best minus second-best log-likelihood: how close the call was."""
    best, second = sorted(lls, reverse=True)[:2]
    return best - second


def compare(
    planned: list[Planned], ours: GauntletResult, theirs: dict[str, Any], limit: int, tol: float
) -> list[float]:
    """Assert per-item agreement (picks wherever the scores' tolerance cannot flip them)."""
    margins = []
    for item, result in zip(planned, ours.tasks, strict=True):
        samples = samples_of(theirs, item)
        assert len(samples) == len(result.predictions) == limit
        compared = 0
        for sample, prompt, mine in zip(samples, item.prompts, result.predictions, strict=True):
            assert [arg[0] for arg in sample["arguments"]] == [prompt.context] * len(prompt.choices)
            assert [arg[1] for arg in sample["arguments"]] == prompt.continuations
            lls = loglikelihoods_of(sample)
            assert mine.logprobs == pytest.approx(lls, abs=tol, rel=0)
            if tol == 0 or margin(lls) > 2 * tol:  # bit-equal scores: every item, ties too
                assert (mine.pred, mine.pred_norm) == choose(lls, prompt.choices)
                assert (sample["acc"], sample["acc_norm"]) == (mine.correct, mine.correct_norm)
                compared += 1
            margins.append(margin(lls))
        metrics = theirs["results"][f"parity_{item.task.name}_{item.shots}"]
        if compared == limit:
            assert metrics["acc,none"] == pytest.approx(result.score.acc)
        upstream = FORMATS[item.task.format].lm_eval
        assert upstream is not None
        if upstream.acc_norm and compared == limit:
            assert result.score.acc_norm == pytest.approx(metrics["acc_norm,none"])
        elif not upstream.acc_norm:
            assert result.score.acc_norm is None  # not an lm-eval metric of this task
        assert compared >= limit - 1
    return margins


def run_both(
    model_dir: Path, tasks: list[Task], work: Path, *, limit: int, dtype: str, softmax: str
) -> tuple[list[float], GauntletResult]:
    options = Options(limit=limit, seed=SEED, no_progress=True, softmax_dtype=softmax)
    planned = plan(tasks, options)
    model, tokenizer = load_hf_model(model_dir)
    assert str(next(model.parameters()).dtype) == f"torch.{dtype}"
    ours = evaluate_model(model, tokenizer, planned, options)
    theirs = run_lm_eval(model_dir, planned, work, limit=limit, dtype=dtype, softmax_dtype=softmax)
    exact = dtype == "bfloat16" and softmax == "model"
    # fp32: the same sums up to float rounding (~1e-6); bf16 with the log-softmax in bf16: the
    # same kernels on the same inputs, bit-equal; bf16 logits with a float32 log-softmax: a batch
    # of another shape can round a logit differently (seen: 5e-4 on one choice of 920)
    tol = 2e-5 if dtype == "float32" else 0.0 if exact else 2e-3
    margins = compare(planned, ours, theirs, limit, tol=tol)
    log.warning(
        "parity %s softmax %s: %d items, %d choices; smallest margin %.2g nats",
        dtype, softmax, len(margins), sum(len(p.prompts[0].choices) * len(p.prompts) for p in planned),
        min(margins),
    )  # fmt: skip
    return margins, ours


def test_lm_eval_task_metadata_is_lm_evals() -> None:
    """Each format's acc_norm, few-shot split and sampler are what lm-eval's YAML says."""
    for name, fmt in FORMATS.items():
        if fmt.lm_eval is None:
            assert name not in UPSTREAM
            continue
        task = Task(name, DATA, name, (0,), None, 0.25, "c", subject="anatomy")
        config = task_yaml(task)
        metrics = [m["metric"] for m in config["metric_list"]]
        assert fmt.lm_eval.acc_norm == ("acc_norm" in metrics), name
        assert fmt.lm_eval.fewshot_split == (
            config.get("fewshot_split") or config["training_split"]
        )
        sampler = (config.get("fewshot_config") or {}).get("sampler", "default")
        assert fmt.lm_eval.sampler == sampler, name


def test_parity_fast(close_dir: Path, tmp_path: Path) -> None:
    """MedQA 3-shot from a train split, MMLU 5-shot from dev (first_n), MedMCQA 2-shot."""
    catalogue = load_tasks(user_tasks(tmp_path))
    tasks = [
        dataclasses.replace(catalogue[name], num_fewshot=(shots,))
        for name, shots in (("medqa_train_shots", 3), ("mmlu_anatomy", 5), ("medmcqa", 2))
    ]
    assert [protocol(task, task.num_fewshot[0]) for task in tasks] == [LM_EVAL] * 3
    margins, _ = run_both(close_dir, tasks, tmp_path, limit=40, dtype="float32", softmax="float32")
    assert min(margins) < 1e-3  # close calls were there to get wrong


def test_parity_with_attention_scaled_by_layer(close_scaled_dir: Path, tmp_path: Path) -> None:
    """BioMedLM's config scales attention by inverse layer index, which the installed
    transformers' default SDPA drops: lm-eval's HFLM is given the gauntlet's attention, else it
    scores another model (seen: 3e-3 nats apart, one pick of 1,600 flipped in bench-eval)."""
    catalogue = load_tasks(user_tasks(tmp_path))
    tasks = [dataclasses.replace(catalogue["mmlu_anatomy"], num_fewshot=(5,))]
    margins, _ = run_both(
        close_scaled_dir, tasks, tmp_path, limit=20, dtype="float32", softmax="float32"
    )
    assert len(margins) == 20  # every choice's log-likelihood within 2e-5 (run_both); without
    # the reference's attention they differ by 3e-4 here


def test_samples_give_lm_evals_own_prompts_for_a_subset(tiny_dir: Path, tmp_path: Path) -> None:
    """lm-eval's ``--samples`` draws few-shot examples for the listed items only, in file order;
    the gauntlet's ``--samples`` gives the same prompts (a train pool, and the test file's own
    with the item excluded), where the full run's draws (``--limit``/``--sample``) would not."""
    import random

    catalogue = load_tasks(user_tasks(tmp_path))
    tasks = [dataclasses.replace(catalogue[name], num_fewshot=(3,))
             for name in ("medqa_train_shots", "medqa_4options")]  # fmt: skip
    count = len(plan(tasks[:1], Options(shots=0, no_progress=True))[0].prompts)
    # sorted: lm-eval draws in file order whatever the list's order, but labels its logged
    # samples' doc_id by the list's order (indices[position])
    indices = sorted(random.Random(0).sample(range(count), 30))
    picked = {task.name: tuple(indices) for task in tasks}
    planned = plan(tasks, Options(samples=picked, seed=SEED, no_progress=True))
    theirs = run_lm_eval(tiny_dir, planned, tmp_path, samples=picked)
    full = plan(tasks, Options(seed=SEED, no_progress=True))  # every item, the full run's draws
    for ours, whole in zip(planned, full, strict=True):
        samples = samples_of(theirs, ours)
        assert [s["doc_id"] for s in samples] == [p.index for p in ours.prompts] == indices
        for sample, prompt in zip(samples, ours.prompts, strict=True):
            assert [arg[0] for arg in sample["arguments"]] == [prompt.context] * 4
            assert [arg[1] for arg in sample["arguments"]] == prompt.continuations
        as_full_run = sum(whole.prompts[i].context == p.context
                          for i, p in zip(indices, ours.prompts, strict=True))  # fmt: skip
        assert as_full_run <= 3, as_full_run  # the full run's examples are other examples


@pytest.mark.slow
@pytest.mark.parametrize(
    (
        "dtype",
        "softmax",
    ),  # fp32 weights: both softmax settings compute in fp32, one case covers both
    [("float32", "float32"), ("bfloat16", "float32"), ("bfloat16", "model")],
)
def test_parity_full(
    close_dir: Path, close_bf16_dir: Path, tmp_path: Path, dtype: str, softmax: str
) -> None:
    """Every format and few-shot protocol, fp32 and bf16 weights, both log-softmax settings."""
    catalogue = load_tasks(user_tasks(tmp_path))
    names = ["medqa_4options", "medqa_train_shots", "pubmedqa", "mmlu_anatomy",
             "mmlu_professional_medicine", "medmcqa"]  # fmt: skip
    tasks = [catalogue[name] for name in names]
    assert protocol(catalogue["medqa_4options"], 3) == FROM_TEST  # lm-eval with fewshot_split test
    model_dir = close_dir if dtype == "float32" else close_bf16_dir
    margins, ours = run_both(model_dir, tasks, tmp_path, limit=20, dtype=dtype, softmax=softmax)
    assert min(margins) < 1e-3
    assert sum(result.score.truncated for result in ours.tasks) > 0  # left truncation agreed too
