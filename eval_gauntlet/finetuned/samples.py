"""The page a person reads: sample answers beside their references, and scores per question type.

The paper judged its patient-question answers by reading them. Samples are spread over question
types (round-robin), so a page of 20 shows treatments, symptoms and causes, not 20 definitions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from biomedlm.decoding import DecodingConfig
from biomedlm.finetune.generation.readers import Example
from biomedlm.generate import NOT_MEDICAL_ADVICE
from data_prep.files import write_text_atomic
from eval_gauntlet.rows import MetricValue

GROUP = "qtype"  # the field results are broken down by, when the examples carry it


def pick_samples(examples: Sequence[Example], n: int) -> list[int]:
    """Indices of ``n`` examples, round-robin over question types (test order within each)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        groups[example.meta.get(GROUP, "")].append(i)
    queues = [groups[key] for key in sorted(groups)]
    picked: list[int] = []
    depth = 0
    while len(picked) < min(n, len(examples)):
        picked += [queue[depth] for queue in queues if depth < len(queue)][: n - len(picked)]
        depth += 1
    return picked


def by_group(examples: Sequence[Example], per_example: dict[str, np.ndarray]) -> list[str]:
    """Markdown table of n, ROUGE-L and lengths per question type (none without types)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        if example.meta.get(GROUP):
            groups[example.meta[GROUP]].append(i)
    if not groups:
        return []
    lines = ["| question type | n | ROUGE-L | words generated | words reference |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for key in sorted(groups, key=lambda k: (-len(groups[k]), k)):
        idx = groups[key]
        lines.append(
            f"| {key} | {len(idx)} | {per_example['rougeL'][idx].mean():.2f} | "
            f"{per_example['words_generated'][idx].mean():.1f} | "
            f"{per_example['words_reference'][idx].mean():.1f} |"
        )
    return lines


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in (text or "(empty)").splitlines())


def describe(decoding: DecodingConfig) -> str:
    """One line saying how the answers were decoded."""
    if decoding.strategy == "beam":
        how = (f"beam search, {decoding.num_beams} beams, length penalty "
               f"{decoding.length_penalty}")  # fmt: skip
    elif decoding.strategy == "sample":
        how = (f"sampling, temperature {decoding.temperature}, top-p {decoding.top_p}, "
               f"seed {decoding.seed}")  # fmt: skip
    else:
        how = "greedy"
    if decoding.no_repeat_ngram_size:
        how += f", no repeated {decoding.no_repeat_ngram_size}-grams"
    if decoding.min_new_tokens:
        how += f", at least {decoding.min_new_tokens} new tokens"
    if decoding.min_length:
        how += f", min_length {decoding.min_length} (prompt included)"
    return f"{how}, at most {decoding.max_new_tokens} new tokens, stop at EOS"


def write_samples(
    path: Path,
    *,
    task: str,
    checkpoint: str,
    examples: Sequence[Example],
    generated: Sequence[str],
    per_example: dict[str, np.ndarray],
    metrics: Sequence[MetricValue],
    decoding: DecodingConfig,
    n_samples: int,
) -> Path:
    """Write the sample page to ``path`` (through a temporary file); returns ``path``."""
    lines = [
        f"# {task}: sample answers of {checkpoint} (test part)",
        "",
        f"**{NOT_MEDICAL_ADVICE}**",
        "",
        f"{len(examples)} test questions; decoding: {describe(decoding)}.",
        "",
        "ROUGE and BLEU are on a 0-100 scale; ROUGE's corpus values are aggregated as the "
        "BioMedLM scripts did (the mean over batches of 9 of rouge-score's bootstrap mid), the "
        "per-question values are F x100.",
        "",
        "| metric | value | 95% CI |",
        "|---|---:|---|",
        *(f"| {m.name} | {m.value:.3f} | {m.ci_low:.3f}–{m.ci_high:.3f} |" for m in metrics),
    ]
    table = by_group(examples, per_example)
    if table:
        lines += ["", "## By question type", "", *table]
    for n, i in enumerate(pick_samples(examples, n_samples), start=1):
        example = examples[i]
        about = " · ".join(
            v for k in (GROUP, "focus") if (v := example.meta.get(k, "")) and v != example.source
        )
        lines += [
            "",
            f"## {n}. {example.id}" + (f" ({about})" if about else ""),
            "",
            "**Question**",
            "",
            _quote(example.source),
            "",
            f"**Generated** (ROUGE-L {per_example['rougeL'][i]:.2f})",
            "",
            _quote(generated[i]),
            "",
            "**Reference**",
            "",
            _quote(example.target),
        ]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
