"""Parity with lm-evaluation-harness 0.4.13 run in-process on the same model and items.

lm-eval gets its own task YAMLs (medqa.yaml, pubmedqa.yaml, mmlu_<subject>.yaml with their
``doc_to_text`` functions and template), pointed at local JSON files holding our items in the
upstream datasets' schemas. Only the few-shot *selection* is shared: a sampler returns the
examples the gauntlet drew, so that lm-eval assembles, tokenizes, truncates and scores the
prompts itself. Every context string, every choice log-likelihood, every pick and each
accuracy must agree.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eval_gauntlet.data import Item, load_items
from eval_gauntlet.evaluate import Options, evaluate_model, plan
from eval_gauntlet.prompts import select_fewshot
from eval_gauntlet.scoring import choose
from eval_gauntlet.tasks import Task, load_tasks

log = logging.getLogger(__name__)
LIMIT = 20
SEED = 1234


def medqa_doc(item: Item) -> dict[str, Any]:  # GBaker/MedQA-USMLE-4-options-hf
    endings = {f"ending{i}": text for i, text in enumerate(item.options.values())}
    return {"key": item.key, "sent1": item.question, **endings, "label": item.gold}


def pubmedqa_doc(item: Item) -> dict[str, Any]:  # bigbio/pubmed_qa, source schema
    *contexts, question = item.question.split("\n")
    decision = item.options[item.answer]
    return {"key": item.key, "QUESTION": question, "CONTEXTS": contexts, "final_decision": decision}


def mmlu_doc(item: Item) -> dict[str, Any]:  # cais/mmlu
    choices = list(item.options.values())
    return {"key": item.key, "question": item.question, "choices": choices, "answer": item.gold}


UPSTREAM: dict[str, tuple[str, Callable[[Item], dict[str, Any]]]] = {
    "medqa_4options": ("medqa/medqa.yaml", medqa_doc),
    "pubmedqa": ("pubmedqa/pubmedqa.yaml", pubmedqa_doc),
    "mmlu": ("mmlu/default/mmlu_{subject}.yaml", mmlu_doc),
}


def upstream_config(task: Task, shots: int, work: Path) -> dict[str, Any]:
    """lm-eval's own task config for ``task``, reading our items from a local JSON file."""
    import lm_eval
    from lm_eval.api.samplers import ContextSampler
    from lm_eval.tasks._yaml_loader import load_yaml

    yaml_name, to_doc = UPSTREAM[task.format]
    items = load_items(task.data, task.subject)
    pool = items if task.fewshot_source is None else load_items(task.fewshot_source, task.subject)
    by_key = {item.key: item for item in items}
    data_file = work / f"{task.name}.jsonl"
    data_file.write_text("".join(json.dumps(to_doc(item)) + "\n" for item in items))

    class GauntletShots(ContextSampler):
        """The gauntlet's examples for the item lm-eval is building (selection only)."""

        def sample(
            self, n: int, eval_doc: dict | None = None, df: Any = None, **kwargs: Any
        ) -> list:
            assert eval_doc is not None
            chosen = select_fewshot(by_key[eval_doc["key"]], pool, n, seed=SEED, task=task.name)
            return [to_doc(item) for item in chosen]

    config = load_yaml(
        Path(lm_eval.__file__).parent / "tasks" / yaml_name.format(subject=task.subject)
    )
    for key in ("training_split", "validation_split", "fewshot_config", "tag", "group"):
        config.pop(key, None)
    config.update(
        task=f"parity_{task.name}_{shots}",
        dataset_path="json",
        dataset_name=None,
        dataset_kwargs={"data_files": {"test": str(data_file)}, "cache_dir": str(work / "hf")},
        test_split="test",
        fewshot_split="test",  # so lm-eval hands the sampler the item being built
        fewshot_config={"sampler": GauntletShots},
        num_fewshot=shots,
        metric_list=[{"metric": "acc"}, {"metric": "acc_norm"}],
    )
    return config


def test_gauntlet_equals_lm_eval(tiny_dir: Path, tiny, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.tasks import TaskManager

    catalogue = load_tasks()
    names = ["medqa_4options", "pubmedqa", "mmlu_anatomy", "mmlu_professional_medicine"]
    options = Options(limit=LIMIT, seed=SEED, progress=False)
    planned = plan([catalogue[name] for name in names], options)

    start = time.perf_counter()
    ours = evaluate_model(*tiny, planned, options)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    theirs = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(tiny_dir), "dtype": "float32"},
        tasks=[upstream_config(p.task, p.shots, tmp_path) for p in planned],
        batch_size=8,
        device="cpu",
        limit=LIMIT,
        bootstrap_iters=0,
        log_samples=True,
        task_manager=TaskManager(include_defaults=False),
    )
    lm_eval_seconds = time.perf_counter() - start
    log.warning("parity run: gauntlet %.1fs, lm-eval %.1fs", ours_seconds, lm_eval_seconds)
    assert theirs is not None

    truncated = 0
    for item, result in zip(planned, ours.tasks, strict=True):
        name = f"parity_{item.task.name}_{item.shots}"
        samples = sorted(theirs["samples"][name], key=lambda s: s["doc_id"])
        assert len(samples) == len(result.predictions) == LIMIT
        for sample, prompt, mine in zip(samples, item.prompts, result.predictions, strict=True):
            assert [arg[0] for arg in sample["arguments"]] == [prompt.context] * len(prompt.choices)
            assert [arg[1] for arg in sample["arguments"]] == prompt.continuations
            lls = [resp[0] for resp in sample["filtered_resps"]]
            assert mine.logprobs == pytest.approx(lls, abs=1e-4)
            assert (mine.pred, mine.pred_norm) == choose(lls, prompt.choices)  # the same picks
            assert (sample["acc"], sample["acc_norm"]) == (
                float(mine.correct),
                float(mine.correct_norm),
            )
        metrics = theirs["results"][name]
        assert metrics["acc,none"] == pytest.approx(result.score.acc)
        assert metrics["acc_norm,none"] == pytest.approx(result.score.acc_norm)
        truncated += result.score.truncated
    assert truncated > 0  # left truncation was exercised and agreed
