"""A generation fine-tune scored on its test part: answers, ROUGE/BLEU/lengths, a page to read.

Every rank answers its share (FSDP generation is collective); rank 0 writes the ``kind:
finetune`` rows, ``predictions/<checkpoint>/<task>.test.jsonl`` and the sample page
``samples/<checkpoint>/<task>.test.md`` under ``eval.out`` (docs/fine-tuning.md).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from biomedlm.finetune.generation.data import split_examples
from biomedlm.finetune.generation.readers import Example
from biomedlm.finetune.recipe import FinetuneRecipe
from biomedlm.generate import complete, truncated_prompts
from biomedlm.generation_layout import separator_of
from eval_gauntlet.finetuned.samples import write_samples
from eval_gauntlet.finetuned.text_metrics import text_metrics
from eval_gauntlet.rows import SAMPLES, Checkpoint, finetune_rows, predictions_path, write_jsonl

log = logging.getLogger(__name__)
FAMILY = "generation"


def task_name(recipe: FinetuneRecipe) -> str:
    """The task a row is for: ``eval.name``, else the data format (``medquad``, ``meqsum``) or a
    JSONL file's stem."""
    if recipe.eval.name:
        return recipe.eval.name
    if recipe.data.format != "jsonl":
        return recipe.data.format
    return Path((recipe.data.test or recipe.data.train)[0]).stem


def _answer(
    model: Any, tokenizer: Any, examples: list[Example], recipe: FinetuneRecipe
) -> list[str]:
    """Every rank answers a strided share of ``examples`` (padded to equal counts); all get all."""
    from composer.utils import dist

    world, rank = dist.get_world_size(), dist.get_global_rank()
    sources = [e.source for e in examples]
    share = -(-len(sources) // world)
    mine = [sources[min(i, len(sources) - 1)] for i in range(rank, share * world, world)]
    answers = complete(
        model, tokenizer, mine, recipe.eval.decoding, separator=separator_of(tokenizer)
    )
    gathered = dist.all_gather_object(answers)
    return [gathered[i % world][i // world] for i in range(len(sources))]


def score(
    model: Any,
    tokenizer: Any,
    recipe: FinetuneRecipe,
    checkpoint: Checkpoint,
    *,
    device: Any = None,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """Answer the test part under ``precision`` (``device`` unused), score it, write the files."""
    from composer.core.precision import get_precision_context
    from composer.utils import dist
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel):
        model = model.module
    out_dir = Path(recipe.eval.out)
    examples = split_examples(recipe)[0].parts["test"]
    log.info("%s: answering %d test examples", checkpoint.name, len(examples))
    with get_precision_context(precision):
        generated = _answer(model, tokenizer, examples, recipe)
    if dist.get_global_rank() != 0:
        return []
    metrics, per_example = text_metrics(
        generated, [e.target for e in examples], seed=recipe.seed, iters=recipe.eval.bootstrap_iters
    )
    task = task_name(recipe)
    records = [
        {"id": e.id, **e.meta, "source": e.source, "reference": e.target, "generated": g,
         **{k: round(float(v[i]), 4) for k, v in per_example.items()}}
        for i, (e, g) in enumerate(zip(examples, generated, strict=True))
    ]  # fmt: skip
    predictions = predictions_path(out_dir, checkpoint, f"{task}.test.jsonl")
    write_jsonl(predictions, records, ensure_ascii=False)
    page = write_samples(
        predictions_path(out_dir, checkpoint, f"{task}.test.md", under=SAMPLES),
        task=task,
        checkpoint=checkpoint.name,
        examples=examples,
        generated=generated,
        per_example=per_example,
        metrics=metrics,
        decoding=recipe.eval.decoding,
        n_samples=recipe.eval.samples,
    )
    truncated = truncated_prompts(
        model, tokenizer, [e.source for e in examples], recipe.eval.decoding,
        separator=separator_of(tokenizer),
    )  # fmt: skip
    rows = finetune_rows(
        checkpoint, task=task, family=FAMILY, split="test", n=len(examples), metrics=metrics,
        run=recipe.run_name, init_from=recipe.model.init_from, truncated=truncated,
        decoding=asdict(recipe.eval.decoding), predictions=str(predictions), samples=str(page),
    )  # fmt: skip
    log.info(
        "%s on %s test (n=%d): %s", checkpoint.name, task, len(examples),
        ", ".join(f"{m.name} {m.value:.3f}" for m in metrics),
    )  # fmt: skip
    return rows
