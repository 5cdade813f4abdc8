"""Batched generation (biomedlm.generate) vs a plain transformers ``generate`` loop, one prompt at a time.

Usage::

    python -m benchmarks.bench_generate [MODEL_DIR] [--prompts 64] [--max-new-tokens 64] [--batch-size 16]

The reference is what the BioMedLM demo does: ``model.generate`` on one prompt after another,
as the model's config says (the project's exports carry llm-foundry's training setting
``use_cache: false``, so that loop recomputes every position at each step), and the same loop
with ``use_cache=True``, to show what batching alone gives.
Both decode the same MedQuAD questions (the shipped collections, in order) greedily with the
same model and settings, stopping at EOS or after ``--max-new-tokens``; the outputs must be the
same text. Figures: generated tokens per second of each, in 3 alternating repeats (median and
spread), and the ratio of medians (target: >= 3x on CPU). Default model: the debug run's export
(``make train``). Both run on one torch thread by default (``--threads``): on a small machine
shared with other work, two threads mostly wait on each other, whatever the method.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.report import report

REPO = Path(__file__).resolve().parents[1]


os.environ.setdefault("HF_HUB_OFFLINE", "1")


def one_by_one(
    model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int, use_cache: bool | None
) -> list[str]:
    """The reference: a transformers ``generate`` call per prompt, greedy, cut at EOS.

    ``use_cache=None``: as the model's config says (the project's exports say ``false``, as
    llm-foundry trains with it, so a plain loop recomputes every position at every step).
    """
    import torch

    texts = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(
                **ids, max_new_tokens=max_new_tokens, do_sample=False, use_cache=use_cache,
                pad_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
            )[0, ids["input_ids"].shape[1] :].tolist()  # fmt: skip
        if tokenizer.eos_token_id in out:
            out = out[: out.index(tokenizer.eos_token_id)]
        texts.append(tokenizer.decode(out, skip_special_tokens=True).strip())
    return texts


def _runs(rates: list[float]) -> str:
    return ", ".join(f"{r:.1f}" for r in rates)


def time_sides(
    model: Any, tokenizer: Any, prompts: list[str], decoding: Any, repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """Seconds of each side over ``repeats`` alternating runs, and each side's outputs."""
    from biomedlm.generate import complete

    runs: dict[str, list[float]] = {"batched": [], "one_by_one": [], "one_by_one_cached": []}
    outputs: dict[str, list[str]] = {}
    for _ in range(repeats):  # alternating, so a slow spell of the machine hits both
        for name in runs:
            start = time.perf_counter()
            if name == "batched":
                outputs[name] = complete(model, tokenizer, prompts, decoding)
            else:
                cache = True if name == "one_by_one_cached" else None
                outputs[name] = one_by_one(
                    model, tokenizer, prompts, decoding.max_new_tokens, cache
                )
            runs[name].append(time.perf_counter() - start)
    return runs, outputs


def setup(args: argparse.Namespace) -> tuple[list[str], Any, Any, Any]:
    """The MedQuAD questions, the model and its tokenizer, plain greedy decoding."""
    from biomedlm.decoding import DecodingConfig
    from biomedlm.finetune.generation.readers import read_examples
    from biomedlm.trained.load import load

    examples, _ = read_examples("medquad", [str(REPO / "data/finetune/medquad")], "questions")
    prompts = [e.source for e in examples[: args.prompts]]
    trained = load(Path(args.model))
    model, tokenizer = trained.model, trained.tokenizer
    decoding = DecodingConfig(  # plain greedy (the recipes' default is the scripts' beam search)
        strategy="greedy", max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        no_repeat_ngram_size=0, min_length=0,
    )  # fmt: skip
    return prompts, model, tokenizer, decoding


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", default="runs/debug-cpu/hf/huggingface/ba60")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for both (0: torch's default)"
    )
    parser.add_argument("--out", default="bench_out/generate.json")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    prompts, model, tokenizer, decoding = setup(args)
    runs, outputs = time_sides(model, tokenizer, prompts, decoding, args.repeats)
    tokens = sum(len(tokenizer(t)["input_ids"]) for t in outputs["one_by_one"])
    same = {
        name: sum(a == b for a, b in zip(outputs["batched"], outputs[name], strict=True))
        for name in ("one_by_one", "one_by_one_cached")
    }
    rate = {name: [tokens / s for s in seconds] for name, seconds in runs.items()}
    median = {name: statistics.median(r) for name, r in rate.items()}
    ratio = median["batched"] / median["one_by_one"]
    ratio_cached = median["batched"] / median["one_by_one_cached"]
    lines = [
        f"generation: {len(prompts)} MedQuAD questions, greedy, <= {args.max_new_tokens} new "
        f"tokens, {tokens} tokens generated, model {args.model}, torch threads "
        f"{torch.get_num_threads()}",
        *(f"  {name:<18} {median[name]:8.1f} tok/s (runs {_runs(rate[name])})" for name in runs),
        f"  batched (batch {args.batch_size}, left-padded, KV cache) / plain loop as exported: "
        f"{ratio:.2f}x (target >= 3x)",
        f"  batched / plain loop with use_cache=True (batching alone): {ratio_cached:.2f}x",
        f"  identical outputs: {same['one_by_one']}/{len(prompts)} and "
        f"{same['one_by_one_cached']}/{len(prompts)}",
    ]
    summary = {
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "tokens": tokens,
        "tokens_per_s": rate,
        "median_tokens_per_s": median,
        "ratio": ratio,
        "ratio_vs_cached_loop": ratio_cached,
        "identical_outputs": same,
        "threads": torch.get_num_threads(),
    }
    report("\n".join(lines), summary, args.out)


if __name__ == "__main__":
    main()
