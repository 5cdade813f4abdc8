"""Batches of encoded examples, and the ``biomedlm_choice`` data loader of llm-foundry's registry.

A multiple-choice batch carries each question once (``prompt_ids``) and its options apart
(``option_ids``), or with ``share_prompt: false`` the paper's (question, option) pairs
(``input_ids``: batch x options x length); missing options are masked out (``present``).
A classification batch is ``input_ids`` and ``attention_mask``. Every batch has ``labels``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from biomedlm.finetune.choice.layout import PAD, Encoded, encode

log = logging.getLogger(__name__)


def _pad(rows: Sequence[Sequence[int]], pad_id: int, side: str) -> tuple[torch.Tensor, ...]:
    """Ids and mask of ``rows`` padded to the longest; an empty row (a missing option) is one
    pad token attending to itself, so no attention row is fully masked (NaN).
    """
    width = max(1, *(len(r) for r in rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            mask[i, 0] = 1
            continue
        span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        ids[i, span] = torch.tensor(row, dtype=torch.long)
        mask[i, span] = 1
    return ids, mask


@dataclass(frozen=True)
class Collator:
    """Encoded examples -> a batch of tensors (see the module docstring)."""

    pad_id: int
    share_prompt: bool = True
    padding_side: str = "right"

    def __call__(self, items: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        labels = torch.tensor([item.label for item in items], dtype=torch.long)
        pad = partial(_pad, pad_id=self.pad_id, side=self.padding_side)
        if not items[0].options:  # classification
            ids, mask = pad([item.prompt for item in items])
            return {"input_ids": ids, "attention_mask": mask, "labels": labels}
        k = max(len(item.options) for item in items)
        # empty slots for questions with fewer options
        options = [[*item.options, *[()] * (k - len(item.options))] for item in items]
        present = torch.tensor([[bool(o) for o in row] for row in options])
        if self.share_prompt:
            prompt_ids, prompt_mask = pad([i.prompt for i in items])
            option_ids, option_mask = pad([o for row in options for o in row])
            return {
                "prompt_ids": prompt_ids,
                "prompt_mask": prompt_mask,
                "option_ids": option_ids.view(len(items), k, -1),
                "option_mask": option_mask.view(len(items), k, -1),
                "present": present,
                "labels": labels,
            }
        pairs = [
            item.prompt + o if o else ()
            for item, row in zip(items, options, strict=True)
            for o in row
        ]
        ids, mask = pad(pairs)
        return {
            "input_ids": ids.view(len(items), k, -1),
            "attention_mask": mask.view(len(items), k, -1),
            "present": present,
            "labels": labels,
        }


def tokens_in_batch(batch: dict[str, torch.Tensor]) -> int:
    """Real (unpadded) tokens the model reads for ``batch``."""
    masks = ("prompt_mask", "option_mask", "attention_mask")
    return int(sum(int(batch[m].sum()) for m in masks if m in batch))


class EncodedDataset(torch.utils.data.Dataset[Encoded]):
    """A list of encoded examples."""

    def __init__(self, encoded: Sequence[Encoded]) -> None:
        self.encoded = list(encoded)

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> Encoded:
        return self.encoded[index]


def pad_id(tokenizer: Any) -> int:
    if tokenizer.pad_token != PAD:
        raise ValueError(f"the tokenizer's pad token is {tokenizer.pad_token!r}, not {PAD}")
    return int(tokenizer.pad_token_id)


def build_choice_dataloader(
    tokenizer: Any,
    device_batch_size: int | float,
    *,
    recipe_data: dict[str, Any],
    task: str,
    part: str,
    share_prompt: bool = True,
    shuffle: bool = True,
    seed: int = 17,
    drop_last: bool = False,
    **workers: Any,
) -> Any:
    """A Composer ``DataSpec`` over one part of a recipe's ``data`` (plain data), read as the
    after-fit scoring reads it (registered: ``biomedlm_choice``); ``workers``: the DataLoader's
    worker and memory options (``biomedlm.foundry_config.loader_section``'s).
    """
    from composer.core import DataSpec
    from composer.utils import dist

    from biomedlm.finetune.choice.readers import part_examples
    from biomedlm.finetune.recipe import DataConfig, SplitConfig

    split = recipe_data.get("split")
    data = DataConfig(**{**recipe_data, "split": SplitConfig(**split) if split else None})
    examples = part_examples(data, part)
    dataset = EncodedDataset(encode(task, examples, tokenizer, data.max_length, data.layout))
    log.info("%s: %d examples", part, len(dataset))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=int(device_batch_size),
        sampler=dist.get_sampler(dataset, shuffle=shuffle, drop_last=drop_last, seed=seed),
        collate_fn=Collator(pad_id(tokenizer), share_prompt),
        drop_last=drop_last,
        **workers,
    )
    return DataSpec(
        loader,
        get_num_samples_in_batch=lambda batch: int(batch["labels"].shape[0]),
        get_num_tokens_in_batch=tokens_in_batch,
    )
