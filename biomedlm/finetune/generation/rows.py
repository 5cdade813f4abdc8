"""Examples -> the prompt/response rows llm-foundry's ``finetuning`` loader reads, written once
per launch into ``<run_dir>/data/<part>.jsonl`` with a ``manifest.json`` of every count.

llm-foundry's collator cuts a long sequence at the end, dropping the target's end and EOS, so
train and validation rows are fitted here (:func:`fit`; docs/fine-tuning.md): a target cut
mid-sentence teaches the model to stop mid-sentence, so a long example loses its source's start.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from biomedlm.finetune.generation.readers import DataError, Example
from biomedlm.generation_layout import prompt_of
from data_prep.files import write_text_atomic

log = logging.getLogger(__name__)
FITTED = ("train", "validation")  # parts that are trained or loss-evaluated


def prompt_response(row: dict[str, Any]) -> dict[str, str]:
    """llm-foundry's ``preprocessing_fn`` for these rows: the two fields it trains on."""
    return {"prompt": row["prompt"], "response": row["response"]}


def _length(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, verbose=False)["input_ids"])


def fit(
    example: Example, tokenizer: Any, max_length: int, separator: str
) -> tuple[str | None, str]:
    """The source to train on (None: skip) and what happened: ``fits``, ``source_cut``,
    ``source_too_short``, ``target_too_long``.

    Lengths are counted as llm-foundry's loader counts them: the prompt and the response
    tokenized apart, plus the EOS its collator appends.
    """
    target = tokenizer(example.target, verbose=False)["input_ids"]
    n_target = len(target) + (0 if target and target[-1] == tokenizer.eos_token_id else 1)
    if _length(tokenizer, prompt_of(example.source, separator)) + n_target <= max_length:
        return example.source, "fits"
    source = tokenizer(example.source, add_special_tokens=False, verbose=False)["input_ids"]
    budget = max_length - n_target - _length(tokenizer, separator)
    if budget < 1:
        return None, "target_too_long"
    if budget < min(len(source), max_length // 4):
        return None, "source_too_short"
    while budget > 0:  # a cut inside a word may re-tokenize longer: cut more until it fits
        text = tokenizer.decode(source[-budget:]).strip()
        if text and _length(tokenizer, prompt_of(text, separator)) + n_target <= max_length:
            return text, "source_cut"
        budget -= 1
    return None, "target_too_long"


def _row(example: Example, source: str, separator: str) -> str:
    row = {
        "id": example.id,
        "prompt": prompt_of(source, separator),
        "response": example.target,
        "source": example.source,
        "meta": example.meta,
    }
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_if_changed(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file and a rename, unless already there."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    write_text_atomic(path, text)


def write_rows(
    parts: Mapping[str, Sequence[Example]],
    out_dir: Path,
    tokenizer: Any,
    max_length: int,
    separator: str,
    manifest: dict[str, Any],
) -> dict[str, Path]:
    """Write each non-empty part's rows (fitted for train/validation) and the manifest."""
    files: dict[str, Path] = {}
    fitting: dict[str, Counter[str]] = {}
    counts: dict[str, int] = {}
    for part, examples in parts.items():
        if not examples:
            continue
        outcome: Counter[str] = Counter()
        lines = []
        for example in examples:
            source: str | None = example.source
            if part in FITTED:
                source, how = fit(example, tokenizer, max_length, separator)
                outcome[how] += 1
            if source is not None:
                lines.append(_row(example, source, separator))
        if not lines:
            raise DataError(f"data.max_length: {max_length} leaves no {part} example whole")
        fitting[part], counts[part] = outcome, len(lines)
        files[part] = out_dir / f"{part}.jsonl"
        write_if_changed(files[part], "".join(lines))
        log.info(
            "%s: %d rows%s", part, len(lines),
            "".join(f", {n} {how}" for how, n in sorted(outcome.items()) if how != "fits"),
        )  # fmt: skip
    manifest = {**manifest, "max_length": max_length, "separator": separator,
                "rows": counts, "fitting": fitting}  # fmt: skip
    write_if_changed(out_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return files
