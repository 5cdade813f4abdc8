"""lm-evaluation-harness 0.4.13 run on a gauntlet task: its own task YAML, sampler and scoring.

``upstream_config`` loads lm-eval's installed task YAML for the task's format and points its
dataset at local JSON files of the task's rows in the upstream schemas (test split, and the
few-shot pool as the split lm-eval draws from; the gauntlet's ``self`` gets ``fewshot_split:
test``); lm-eval does the rest. The reference of the parity tests and ``bench-eval``, kept out of
the library: it needs lm-eval (the ``dev`` extra).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from eval_gauntlet.evaluate import Planned
from eval_gauntlet.tasks import Task
from medtasks.formats import Item, load_items


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


def medmcqa_doc(item: Item) -> dict[str, Any]:  # openlifescienceai/medmcqa: cop is 0-3
    options = dict(zip(("opa", "opb", "opc", "opd"), item.options.values(), strict=True))
    return {"key": item.key, "id": item.key, "question": item.question, **options, "cop": item.gold}


# format -> (lm-eval's task YAML, gauntlet row -> upstream dataset doc)
UPSTREAM: dict[str, tuple[str, Callable[[Item], dict[str, Any]]]] = {
    "medqa_4options": ("medqa/medqa.yaml", medqa_doc),
    "pubmedqa": ("pubmedqa/pubmedqa.yaml", pubmedqa_doc),
    "mmlu": ("mmlu/default/mmlu_{subject}.yaml", mmlu_doc),
    "medmcqa": ("medmcqa/medmcqa.yaml", medmcqa_doc),
}


def task_yaml(task: Task) -> dict[str, Any]:
    """lm-eval's own config of ``task``'s format (includes resolved, functions imported)."""
    import lm_eval
    from lm_eval.tasks._yaml_loader import load_yaml

    yaml_name, _ = UPSTREAM[task.format]
    path = Path(lm_eval.__file__).parent / "tasks" / yaml_name.format(subject=task.subject)
    return load_yaml(path)


def _write(path: Path, items: Sequence[Item], to_doc: Callable[[Item], dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(to_doc(item)) + "\n" for item in items))
    return str(path)


def _items(path: Path, task: Task) -> list[Item]:
    return load_items(path, task.subject, schema=task.schema, cop_base=task.cop_base)


def upstream_config(task: Task, shots: int, work: Path) -> dict[str, Any]:
    """lm-eval's task config for ``task`` at ``shots``, reading its rows from local files."""
    _, to_doc = UPSTREAM[task.format]
    config = task_yaml(task)
    name = f"parity_{task.name}_{shots}"
    test_split = config["test_split"]
    files = {test_split: _write(work / f"{name}.test.jsonl", _items(task.data, task), to_doc)}
    for key in ("tag", "group", "validation_split"):
        config.pop(key, None)
    if task.fewshot_source is None:
        config.update(training_split=None, fewshot_split=test_split)
    else:
        split = config.get("fewshot_split") or config["training_split"]
        pool = _items(task.fewshot_source, task)
        files[split] = _write(work / f"{name}.{split}.jsonl", pool, to_doc)
    config.update(
        task=name,
        dataset_path="json",
        dataset_name=None,
        dataset_kwargs={"data_files": files, "cache_dir": str(work / "hf")},
        num_fewshot=shots,
        # acc_norm for every task, so that pred_norm is compared too (lm-eval's own lists are
        # checked against the gauntlet's in test_parity)
        metric_list=[{"metric": "acc"}, {"metric": "acc_norm"}],
    )
    return config


def reference_attention(model_dir: Path) -> str | None:
    """The attention the gauntlet runs ``model_dir`` under, for lm-eval's HFLM too (None: its
    default): a config that scales attention by inverse layer index (BioMedLM's) is another model
    under the installed transformers' default SDPA, which drops that scale.
    """
    from transformers import AutoConfig

    from biomedlm.attention import attention_for

    return attention_for(AutoConfig.from_pretrained(model_dir, local_files_only=True), None)


def run_lm_eval(
    model_dir: Path,
    planned: Sequence[Planned],
    work: Path,
    *,
    limit: int | None = None,
    samples: Mapping[str, Sequence[int]] | None = None,
    dtype: str = "float32",
    softmax_dtype: str = "float32",
    batch_size: int = 8,
) -> dict[str, Any]:
    """``lm_eval.simple_evaluate`` with HFLM on ``model_dir``, offline, per-sample logs kept;
    ``limit`` or ``samples`` (task name -> item indices) picks the items.
    """
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.tasks import TaskManager

    model_args: dict[str, Any] = {"pretrained": str(model_dir), "dtype": dtype}
    if softmax_dtype == "float32":
        model_args["softmax_dtype"] = "float32"
    if attention := reference_attention(model_dir):
        model_args["attn_implementation"] = attention
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=[upstream_config(p.task, p.shots, work) for p in planned],
        batch_size=batch_size,
        device="cpu",
        limit=limit,
        samples=None
        if samples is None
        else {
            f"parity_{p.task.name}_{p.shots}": list(samples[p.task.name])
            for p in planned
            if p.task.name in samples
        },
        bootstrap_iters=0,
        log_samples=True,
        task_manager=TaskManager(include_defaults=False),
    )
    assert results is not None
    return results


def samples_of(results: dict[str, Any], planned: Planned) -> list[dict[str, Any]]:
    """lm-eval's per-item records for ``planned``, in item order."""
    name = f"parity_{planned.task.name}_{planned.shots}"
    return sorted(results["samples"][name], key=lambda s: s["doc_id"])


def loglikelihoods_of(sample: dict[str, Any]) -> list[float]:
    """The choices' log-likelihoods lm-eval computed for one item."""
    return [float(resp[0]) for resp in sample["filtered_resps"]]
