"""What the gauntlet watcher costs per checkpoint of the 2.7B recipe, scored on CPU.

Usage::

    python -m benchmarks.bench_watcher [--items 16] [--sample 100] [--repeats 1] [--dtype bfloat16]

The BioMedLM 2.7B architecture (32 layers, d 2560, 20 heads, 1024 positions, 28,928 embedding
rows; random weights, in the dtype ``hf_checkpointer`` exports: bfloat16) scores a seeded
sample of ``--items`` items of every task and shot count of the catalogue with the gauntlet's
own scorer (each distinct prefix forwarded once, ``gold_text_bpb``'s cloze prompts included).
Each benchmark's cost per floor token (core-seconds over the node count of the token trie of
its scored inputs, ``token_counts.py``) times that benchmark's floor at the watcher's
``--sample`` and on the whole catalogue gives the cost of one checkpoint: per benchmark, as the
share of cached rows (MMLU's questions after their shared examples) differs. Printed: seconds
per item of each benchmark, core-seconds per 1,000 floor tokens, and the extrapolated hours per
checkpoint; CPU core-hours carry over to a machine with more free cores (wall time about
core-hours / cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.report import report
from benchmarks.token_counts import scored_inputs, trie_nodes

REPO = Path(__file__).resolve().parents[1]


SHAPE = {"n_layer": 32, "n_embd": 2560, "n_head": 20, "n_positions": 1024, "vocab_size": 28928}


def floor(tokenizer: object, prompts: list, gold_text: bool = True) -> int:
    """The trie floor of the inputs the scorer forwards for ``prompts`` (at 1,024 positions)."""
    return trie_nodes(scored_inputs(tokenizer, prompts, SHAPE["n_positions"], gold_text))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokenizer", default=str(REPO / "outputs/prep/sample/tokenizer"))
    parser.add_argument("--sample", type=int, default=100, help="the watcher's --sample")
    parser.add_argument("--items", type=int, default=16, help="items measured per benchmark")
    parser.add_argument("--repeats", type=int, default=1)
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
        model: Any = GPT2LMHeadModel(GPT2Config(**SHAPE, eos_token_id=tokenizer.eos_token_id))
    model = model.to_empty(device="cpu").to(getattr(torch, args.dtype)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(-0.03, 0.03)
    catalogue = list(load_tasks().values())
    measured = plan(catalogue, Options(sample=args.items))
    at_sample = plan(catalogue, Options(sample=args.sample))
    whole = plan(catalogue, Options())
    # the scorer's checks (once per model: a cached forward equals the whole one) on two items
    # that share their examples, outside the measurement
    shared = next(p for p in measured if p.shots and p.task.fewshot_sampler == "first_n")
    score_prompts(model, tokenizer, shared.prompts[:2], max_length=1024, progress=False)

    load = os.getloadavg()
    per_benchmark = {
        f"{p.task.name} {p.shots}-shot": measure(model, tokenizer, p, s, w, args.repeats)
        for p, s, w in zip(measured, at_sample, whole, strict=True)
    }
    summary = summarize(per_benchmark, args, torch.get_num_threads())
    summary["items_at_sample"] = sum(len(p.prompts) for p in at_sample)
    summary["items_whole"] = sum(len(p.prompts) for p in whole)
    summary["load"], summary["load_after"] = load, os.getloadavg()
    report("\n".join(describe(summary)), summary, args.out)


def measure(model: Any, tokenizer: Any, p: Any, s: Any, w: Any, repeats: int) -> dict[str, Any]:
    """One benchmark's cost per floor token, measured on ``p``'s prompts, and that rate times
    its floor at the watcher's sample (``s``) and on the whole catalogue (``w``)."""
    from eval_gauntlet.scoring import score_prompts

    tokens = floor(tokenizer, p.prompts)
    seconds, core_seconds = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        score_prompts(model, tokenizer, p.prompts, max_length=1024, progress=False)
        seconds.append(time.perf_counter() - start)
        core_seconds.append(time.process_time() - cpu)
    core_rate = statistics.median(core_seconds) / tokens  # core-s per floor token
    row = {
        "items": len(p.prompts),
        "floor_tokens": tokens,
        "s_per_item": round(statistics.median(seconds) / len(p.prompts), 2),
        "core_s_per_1k_tokens": round(core_rate * 1000, 2),
        "floor_at_sample": floor(tokenizer, s.prompts),
        "floor_whole": floor(tokenizer, w.prompts),
        "floor_whole_no_gold_text": floor(tokenizer, w.prompts, gold_text=False),
    }
    row["core_hours_at_sample"] = core_rate * row["floor_at_sample"] / 3600
    row["core_hours_whole"] = core_rate * row["floor_whole"] / 3600
    print(f"{p.task.name} {p.shots}-shot", row, flush=True)
    return row


def summarize(
    per_benchmark: dict[str, dict[str, Any]], args: argparse.Namespace, threads: int
) -> dict[str, Any]:
    """The per-benchmark rows added up: core-hours = sum of (rate x floor) over benchmarks."""
    rows = per_benchmark.values()
    measured_tokens = sum(b["floor_tokens"] for b in rows)
    overall = sum(b["core_s_per_1k_tokens"] * b["floor_tokens"] for b in rows) / measured_tokens
    return {
        "dtype": args.dtype,
        "threads": threads,
        "items_measured": sum(b["items"] for b in rows),
        "floor_tokens_measured": measured_tokens,
        "core_s_per_1k_tokens_overall": round(overall, 2),
        "benchmarks": per_benchmark,
        "sample": args.sample,
        "floor_at_sample": sum(b["floor_at_sample"] for b in rows),
        "core_hours_per_checkpoint_at_sample": round(
            sum(b["core_hours_at_sample"] for b in rows), 2
        ),
        "floor_whole": sum(b["floor_whole"] for b in rows),
        "floor_whole_no_gold_text": sum(b["floor_whole_no_gold_text"] for b in rows),
        "core_hours_per_checkpoint_whole": round(sum(b["core_hours_whole"] for b in rows), 2),
    }


def describe(summary: dict[str, Any]) -> list[str]:
    lines = [f"{k}: {v['s_per_item']} s/item, {v['core_s_per_1k_tokens']} core-s per 1k floor "
             f"tokens" for k, v in summary["benchmarks"].items()]  # fmt: skip
    lines += [
        f"{summary['dtype']}, {summary['threads']} threads, load average "
        f"{summary['load'][0]:.1f} before, {summary['load_after'][0]:.1f} after: "
        f"{summary['items_measured']} items, {summary['floor_tokens_measured']:,} floor tokens "
        f"measured; {summary['core_s_per_1k_tokens_overall']} core-s per 1k floor tokens overall",
        f"--sample {summary['sample']}: {summary['items_at_sample']} items, "
        f"{summary['floor_at_sample']:,} floor tokens: "
        f"{summary['core_hours_per_checkpoint_at_sample']} core-h",
        f"whole catalogue: {summary['items_whole']} items, {summary['floor_whole']:,} floor "
        f"tokens ({summary['floor_whole_no_gold_text']:,} without gold_text_bpb): "
        f"{summary['core_hours_per_checkpoint_whole']} core-h",
    ]
    return lines


if __name__ == "__main__":
    main()
