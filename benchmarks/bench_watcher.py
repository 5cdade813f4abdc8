"""What the gauntlet watcher costs per checkpoint of the 2.7B recipe, scored on CPU.

Usage::

    python -m benchmarks.bench_watcher [--sample 100] [--items 1] [--repeats 3] [--dtype bfloat16]

The BioMedLM 2.7B architecture (32 layers, d 2560, 20 heads, 1024 positions, 28,928 embedding
rows; random weights, in the dtype ``hf_checkpointer`` exports: bfloat16) scores ``--items``
items of every task and shot count of the catalogue with the gauntlet's own scoring path (one
forward pass per item when the choices are single tokens, the output layer at the scored
positions only), ``--repeats`` times. Per-token cost is nearly flat up to 1,024 tokens at this
width (attention is ~3% of the work), so the cost of one checkpoint is the measured seconds per
prompt token times the prompt tokens of the catalogue at the watcher's ``--sample`` (counted
with ``--tokenizer``, exactly as the scorer cuts them). Printed: seconds per item of each
benchmark, wall and CPU seconds per 1,000 prompt tokens (median and spread of the repeats),
and the extrapolated hours per checkpoint at ``--sample`` and for the whole catalogue; CPU
core-hours carry over to a machine with more free cores (wall time about core-hours / cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchmarks.report import report

REPO = Path(__file__).resolve().parents[1]


SHAPE = {"n_layer": 32, "n_embd": 2560, "n_head": 20, "n_positions": 1024, "vocab_size": 28928}


def prompt_tokens(tokenizer: object, prompts: list) -> int:
    """Tokens the scorer feeds for ``prompts``: each distinct window once, as it batches them."""
    from eval_gauntlet.scoring import encode_pairs, window_for

    pairs = [(p.context, cont) for p in prompts for cont in p.continuations]
    windows = {
        window_for(c, t, SHAPE["n_positions"]).inputs for c, t in encode_pairs(tokenizer, pairs)
    }
    return sum(len(w) for w in windows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokenizer", default=str(REPO / "outputs/prep/sample/tokenizer"))
    parser.add_argument("--sample", type=int, default=100, help="the watcher's --sample")
    parser.add_argument("--items", type=int, default=1, help="items scored per benchmark")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--out", default="bench_out/watcher.json")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from eval_gauntlet.evaluate import plan
    from eval_gauntlet.options import Options
    from eval_gauntlet.scoring import score_prompts
    from eval_gauntlet.tasks import load_tasks

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer, local_files_only=True)
    torch.manual_seed(0)
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config(**SHAPE, eos_token_id=tokenizer.eos_token_id))
    model = model.to_empty(device="cpu").to(getattr(torch, args.dtype)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(-0.03, 0.03)
    catalogue = list(load_tasks().values())
    at_sample = plan(catalogue, Options(sample=args.sample))
    whole = plan(catalogue, Options())
    tokens_sample = sum(prompt_tokens(tokenizer, p.prompts) for p in at_sample)
    tokens_whole = sum(prompt_tokens(tokenizer, p.prompts) for p in whole)
    items_sample = sum(len(p.prompts) for p in at_sample)
    items_whole = sum(len(p.prompts) for p in whole)

    rates, core_rates, per_item = [], [], {}
    for _ in range(args.repeats):
        seconds = core_seconds = tokens = 0.0
        for p in at_sample:
            prompts = p.prompts[: args.items]
            start, cpu = time.perf_counter(), time.process_time()
            score_prompts(model, tokenizer, prompts, max_length=1024, progress=False)
            took = time.perf_counter() - start
            seconds += took
            core_seconds += time.process_time() - cpu
            tokens += prompt_tokens(tokenizer, prompts)
            per_item.setdefault(f"{p.task.name} {p.shots}-shot", []).append(took / len(prompts))
        rates.append(seconds / tokens * 1000)
        core_rates.append(core_seconds / tokens * 1000)
    rate, core_rate = statistics.median(rates), statistics.median(core_rates)
    core_hours = {  # CPU time: on N free cores, about core-hours / N of wall time
        "at_sample": round(core_rate * tokens_sample / 1000 / 3600, 2),
        "whole": round(core_rate * tokens_whole / 1000 / 3600, 2),
    }
    summary = {
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "s_per_1k_tokens": [round(r, 2) for r in rates],
        "core_s_per_1k_tokens": [round(r, 2) for r in core_rates],
        "s_per_item": {k: round(statistics.median(v), 2) for k, v in per_item.items()},
        "sample": args.sample,
        "items_at_sample": items_sample,
        "tokens_at_sample": tokens_sample,
        "hours_per_checkpoint_at_sample": round(rate * tokens_sample / 1000 / 3600, 2),
        "core_hours_per_checkpoint_at_sample": core_hours["at_sample"],
        "items_whole": items_whole,
        "tokens_whole": tokens_whole,
        "hours_per_checkpoint_whole": round(rate * tokens_whole / 1000 / 3600, 2),
        "core_hours_per_checkpoint_whole": core_hours["whole"],
    }
    lines = [f"{k}: {v} s/item" for k, v in summary["s_per_item"].items()]
    lines += [
        f"{args.dtype}, {torch.get_num_threads()} threads: {rate:.2f} s (wall) and "
        f"{core_rate:.2f} core-s (CPU) per 1k prompt tokens; wall repeats "
        f"{min(rates):.2f}-{max(rates):.2f}, CPU {min(core_rates):.2f}-{max(core_rates):.2f}",
        f"--sample {args.sample}: {items_sample} items, {tokens_sample:,} tokens: "
        f"{summary['hours_per_checkpoint_at_sample']} h here, {core_hours['at_sample']} core-h",
        f"whole catalogue: {items_whole} items, {tokens_whole:,} tokens: "
        f"{summary['hours_per_checkpoint_whole']} h here, {core_hours['whole']} core-h",
    ]
    report("\n".join(lines), summary, args.out)


if __name__ == "__main__":
    main()
