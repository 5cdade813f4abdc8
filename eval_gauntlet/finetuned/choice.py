"""Scores of a fine-tuned multiple-choice or classification model on its recipe's test sets.

Each test set (``data.test``, and each ``eval.extra`` set) is scored on every rank's share and
gathered; rank 0 writes its predictions and an accuracy row, plus one pooled row per ``group``
of extra sets (MMLU's subjects).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.metrics import bootstrap_ci, majority_baseline
from eval_gauntlet.rows import (
    Checkpoint,
    MetricValue,
    finetune_rows,
    predictions_path,
    write_jsonl,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scored:
    """One test set's examples with the model's scores."""

    name: str
    group: str | None
    examples: list[Any]  # biomedlm.finetune.choice.readers.Example
    encoded: list[Any]  # biomedlm.finetune.choice.layout.Encoded
    scores: list[list[float]]

    @property
    def correct(self) -> list[bool]:
        return [
            max(range(len(e.options)), key=s.__getitem__) == e.label
            for e, s in zip(self.examples, self.scores, strict=True)
        ]


def test_sets(recipe: Any) -> list[tuple[str, str | None, list[Any]]]:
    """(name, group, examples) of every set the recipe scores after fit."""
    from biomedlm.finetune.choice.readers import DataError, extra_examples, part_examples

    sets: list[tuple[str, str | None, list[Any]]] = []
    try:
        test = part_examples(recipe.data, "test")
        if test:
            sets.append((recipe.eval.name or recipe.data.format, None, test))
        for name, test_set in recipe.eval.extra.items():
            sets.append((name, test_set.group, extra_examples(name, test_set, recipe.data)))
    except DataError as exc:
        raise GauntletError(str(exc)) from None
    return sets


def predict(
    model: Any, encoded: list[Any], collator: Any, batch_size: int, device: Any, precision: str
) -> list[list[float]]:
    """Scores of every encoded example: each rank scores its share, all gathered on every rank."""
    import torch
    from composer.core.precision import get_precision_context
    from composer.utils import dist

    from biomedlm.finetune.choice.data import EncodedDataset

    mine = list(dist.get_sampler(EncodedDataset(encoded), shuffle=False, drop_last=False))
    local: list[tuple[int, list[float]]] = []
    for start in range(0, len(mine), batch_size):
        chunk = mine[start : start + batch_size]
        batch = {k: v.to(device) for k, v in collator([encoded[i] for i in chunk]).items()}
        with torch.no_grad(), get_precision_context(precision):
            scores = model(batch).float().cpu().tolist()
        local += zip(chunk, scores, strict=True)
    merged = dict(itertools.chain.from_iterable(dist.all_gather_object(local)))
    return [merged[i] for i in range(len(encoded))]


def _write_predictions(out: Path, checkpoint: Checkpoint, scored: Scored) -> Path:
    records = [
        {
            "task": scored.name,
            "key": e.key,
            "source": e.source,
            "question": e.question,  # what a person checks a prediction against
            **({"context": e.context} if e.context else {}),
            "options": list(e.options),
            "gold": e.label,
            "pred": max(range(len(e.options)), key=s.__getitem__),
            "correct": ok,
            "scores": s[: len(e.options)],
            "truncated_tokens": enc.truncated,
        }
        for e, enc, s, ok in zip(
            scored.examples, scored.encoded, scored.scores, scored.correct, strict=True
        )
    ]
    return write_jsonl(predictions_path(out, checkpoint, f"{scored.name}.test.jsonl"), records)


def _rows(
    name: str, sets: list[Scored], recipe: Any, checkpoint: Checkpoint, **fields: Any
) -> list[dict[str, Any]]:
    examples = [e for s in sets for e in s.examples]
    correct = [c for s in sets for c in s.correct]
    low, high = bootstrap_ci(correct, seed=recipe.seed, iters=recipe.eval.bootstrap_iters)
    acc = sum(correct) / len(correct)
    log.info("%s: accuracy %.4f (95%% CI %.4f-%.4f, n=%d)", name, acc, low, high, len(correct))
    return finetune_rows(
        checkpoint,
        task=name,
        family=recipe.task,
        split="test",
        n=len(correct),
        metrics=[MetricValue("acc", acc, low, high)],
        run=recipe.run_name,
        init_from=recipe.model.init_from,
        random_baseline=sum(1 / len(e.options) for e in examples) / len(examples),
        majority_baseline=majority_baseline([e.label for e in examples]),
        truncated=sum(1 for s in sets for enc in s.encoded if enc.truncated),
        members=[s.name for s in sets] if len(sets) > 1 else None,
        **fields,
    )


def score(
    model: Any,
    tokenizer: Any,
    recipe: Any,
    checkpoint: Checkpoint,
    *,
    device: Any,
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """Score every test set of ``recipe`` (see :mod:`eval_gauntlet.finetuned.scoring`)."""
    from composer.utils import dist

    from biomedlm.finetune.choice.data import Collator, pad_id
    from biomedlm.finetune.choice.layout import encode

    collator = Collator(pad_id(tokenizer), recipe.model.share_prompt)
    was_training = model.training
    model.eval()
    try:
        scored = []
        for name, group, examples in test_sets(recipe):
            encoded = encode(
                recipe.task, examples, tokenizer, recipe.data.max_length, recipe.data.layout
            )
            scores = predict(
                model, encoded, collator, recipe.device_eval_batch_size, device, precision
            )
            if recipe.task == "classification" and len(scores[0]) != len(examples[0].options):
                raise GauntletError(
                    f"{name}: the model scores {len(scores[0])} labels but the test set has "
                    f"{len(examples[0].options)} ({', '.join(examples[0].options)})"
                )
            scored.append(Scored(name, group, examples, encoded, scores))
    finally:
        model.train(was_training)
    if dist.get_global_rank() != 0 or not scored:
        return []
    out = Path(recipe.eval.out)
    rows = []
    for one in scored:
        path = _write_predictions(out, checkpoint, one)
        rows += _rows(one.name, [one], recipe, checkpoint, predictions=str(path))
    for group in dict.fromkeys(s.group for s in scored if s.group):
        rows += _rows(group, [s for s in scored if s.group == group], recipe, checkpoint)
    return rows
