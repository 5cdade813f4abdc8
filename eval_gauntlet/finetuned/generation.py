"""A generation fine-tune scored on its test part: answers, ROUGE/BLEU/lengths, a page to read.

After fit (the ``finetune_eval`` callback the launch adds when ``eval.test_after_fit``), or
later on a saved checkpoint (:func:`score_checkpoint`, the generation branch of
``python -m eval_gauntlet finetuned CHECKPOINT RECIPE``), the recipe's test examples (the same
split as at launch, :func:`biomedlm.finetune.generation.data.split_examples`) are answered with
``eval.decoding`` and written under ``eval.out``:

- ``results.jsonl`` / ``.md`` / ``.png``: ``kind: finetune`` rows (``family: generation``):
  ``rouge1``, ``rouge2``, ``rougeL`` (0-100, aggregated as the BioMedLM scripts), ``bleu``,
  ``words_generated``, ``words_reference``, each with its bootstrap 95% interval
  (:mod:`eval_gauntlet.finetuned.text_metrics`), and how they were made: ``init_from``, the
  ``decoding`` settings, ``truncated`` (test sources that lost their start to fit the model);
- ``predictions/<checkpoint>/<task>.test.jsonl``: per example the id, question type, source,
  reference, generated text and its scores;
- ``samples/<checkpoint>/<task>.test.md``: ``eval.samples`` answers beside their references,
  spread over question types, and a table of scores per question type, for a person to read.

Under several processes each rank answers its share of the test part (FSDP generation is
collective, so every rank runs the same number of batches); rank 0 writes.

:func:`load` and :func:`score` are the two functions a task family's scoring module offers the
fine-tuning dispatch (``eval_gauntlet.finetuned.scoring``: the ``finetune_eval`` callback and the
``finetuned`` command).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from biomedlm.finetune.generation.data import split_examples
from biomedlm.finetune.generation.readers import Example
from biomedlm.finetune.recipe import FinetuneRecipe
from biomedlm.generate import complete, truncated_prompts
from biomedlm.generation_layout import separator_of
from eval_gauntlet.errors import UnreadableCheckpoint
from eval_gauntlet.finetuned.rows import finetune_rows, record
from eval_gauntlet.finetuned.samples import write_samples
from eval_gauntlet.finetuned.text_metrics import text_metrics
from eval_gauntlet.results import PREDICTIONS, Checkpoint, _safe, atomic_write

log = logging.getLogger(__name__)
FAMILY = "generation"


def task_name(recipe: FinetuneRecipe) -> str:
    """The task a row is for: the data format (``medquad``, ``meqsum``), a JSONL file's stem."""
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
    if world == 1:
        return complete(
            model, tokenizer, sources, recipe.eval.decoding, separator=separator_of(tokenizer)
        )
    share = -(-len(sources) // world)
    mine = [sources[min(i, len(sources) - 1)] for i in range(rank, share * world, world)]
    answers = complete(
        model, tokenizer, mine, recipe.eval.decoding, separator=separator_of(tokenizer)
    )
    gathered = dist.all_gather_object(answers)
    return [gathered[i % world][i // world] for i in range(len(sources))]


def score_generation(
    model: Any, tokenizer: Any, recipe: FinetuneRecipe, checkpoint: Checkpoint, out_dir: Path
) -> list[dict[str, Any]]:
    """Answer the recipe's test part with ``model``, score it, write the files; the rows recorded.

    ``model`` is a Hugging Face model or a Composer one (anything with ``generate``). Ranks
    other than 0 return no rows.
    """
    from composer.utils import dist

    splits, _ = split_examples(recipe)
    examples = splits.parts["test"]
    log.info("%s: answering %d test examples", checkpoint.name, len(examples))
    generated = _answer(model, tokenizer, examples, recipe)
    if dist.get_global_rank() != 0:
        return []
    references = [e.target for e in examples]
    metrics, per_example = text_metrics(
        generated, references, seed=recipe.seed, iters=recipe.eval.bootstrap_iters
    )
    task = task_name(recipe)
    folder = _safe(checkpoint.name)
    predictions = out_dir / PREDICTIONS / folder / f"{task}.test.jsonl"
    lines = [
        json.dumps(
            {"id": e.id, **e.meta, "source": e.source, "reference": e.target, "generated": g,
             **{k: round(float(v[i]), 4) for k, v in per_example.items()}},
            ensure_ascii=False,
        ) + "\n"
        for i, (e, g) in enumerate(zip(examples, generated, strict=True))
    ]  # fmt: skip
    atomic_write(predictions, lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))
    page = write_samples(
        out_dir / "samples" / folder / f"{task}.test.md",
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
    record(out_dir, rows)
    log.info(
        "%s on %s test (n=%d): %s", checkpoint.name, task, len(examples),
        ", ".join(f"{m.name} {m.value:.3f}" for m in metrics),
    )  # fmt: skip
    return rows


def _unwrapped(model: Any) -> Any:
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def score(
    model: Any,
    tokenizer: Any,
    recipe: FinetuneRecipe,
    checkpoint: Checkpoint,
    *,
    device: Any = None,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """The family interface: :func:`score_generation` into ``eval.out``, under ``precision``.

    ``device`` is where ``model`` already is (generation follows the model's parameters).
    """
    from composer.core.precision import get_precision_context

    del device
    with get_precision_context(precision):
        return score_generation(
            _unwrapped(model), tokenizer, recipe, checkpoint, Path(recipe.eval.out)
        )


@dataclass(frozen=True)
class Loaded:
    """A saved model read back for scoring, and what the results call it."""

    model: Any
    tokenizer: Any
    checkpoint: Checkpoint


def load(path: Path, recipe: FinetuneRecipe, device: str = "cpu", *, trust: bool = False) -> Loaded:
    """The family interface: a saved model (Composer checkpoint, HF export, adapters) on ``device``.

    Named ``<run_name>-<checkpoint>`` in the results; unreadable: :class:`UnreadableCheckpoint`.
    A Hugging Face export records no progress: its step is read from llm-foundry's folder name,
    ``ba<step>``, when it has one.
    """
    from biomedlm.checkpoint import CheckpointError
    from biomedlm.generate import load_model
    from eval_gauntlet.watch import step_of_name

    try:
        model, tokenizer, progress = load_model(path, trust=trust)
    except CheckpointError as exc:
        raise UnreadableCheckpoint(str(exc)) from None
    name = f"{recipe.run_name}-{path.name.removesuffix('.pt')}"
    step, tokens = (progress.batch, progress.tokens) if progress else (None, None)
    if progress is None:
        step = step_of_name(path.resolve())
    return Loaded(model.to(device), tokenizer, Checkpoint(name, step, tokens))


def load_recipe_dict(recipe: dict[str, Any]) -> FinetuneRecipe:
    """A resolved recipe (as the launch passes it to the callback) back as a typed recipe."""
    from strict_config import merge_structured

    return merge_structured(FinetuneRecipe, [recipe], "eval callback recipe")


def score_checkpoint(
    path: Path, recipe: FinetuneRecipe, out_dir: Path | None = None, device: str = "cpu"
) -> list[dict[str, Any]]:
    """Score a saved model on the recipe's test part: the generation branch of
    ``python -m eval_gauntlet finetuned CHECKPOINT RECIPE``; rows go to ``out_dir`` (default:
    the recipe's ``eval.out``)."""
    loaded = load(path, recipe, device)
    return score_generation(
        loaded.model, loaded.tokenizer, recipe, loaded.checkpoint, out_dir or Path(recipe.eval.out)
    )
