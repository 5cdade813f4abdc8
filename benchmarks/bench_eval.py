"""Gauntlet vs lm-evaluation-harness 0.4.13: wall time and the same answers, on close calls.

Usage::

    python -m benchmarks.bench_eval [MODEL_DIR] [--limit 100] [--repeats 3] [--weights random]
                                    [--dtype float32|bfloat16] [--softmax-dtype float32|model]

Both score the same Hugging Face model on every task and shot count of the catalogue, the same
items (the first ``--limit`` of each), each by its own code: lm-eval runs its installed task
YAMLs, samplers and scorer on our rows (``eval_gauntlet/lm_eval_reference.py``; MedQA's
few-shot examples from its test file, the item excluded, as the gauntlet's shipped entry does).

``--weights random`` (default) keeps MODEL_DIR's architecture and tokenizer but initialises the
weights at GPT-2's scale (initializer_range 0.02, seeded): its choices are close calls, where a
different prompt, example or rounding changes the answer. A trained debug model answers the same
letter on every item by a wide margin and would agree whatever the scorer did (``--weights
trained`` to see it). Printed: each side's wall time over ``--repeats`` alternating runs (median
and range), the ratio of the medians, how many items got the same ``acc`` and ``acc_norm``
picks, and the smallest margin between the best and the second choice.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import report

REPO = Path(__file__).resolve().parents[1]


os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def close_call_model(model_dir: str, out_dir: Path, dtype: str, seed: int = 0) -> Path:
    """``model_dir``'s architecture and tokenizer, weights drawn at initializer_range 0.02."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    config.initializer_range = 0.02
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).to(getattr(torch, dtype))
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(model_dir, local_files_only=True).save_pretrained(out_dir)
    return out_dir


def as_dtype(model_dir: str, out_dir: Path, dtype: str) -> Path:
    """``model_dir``'s trained weights saved in ``dtype``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=getattr(torch, dtype))
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(model_dir, local_files_only=True).save_pretrained(out_dir)
    return out_dir


def spread(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.1f} s (range {min(seconds):.1f}-{max(seconds):.1f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", default="runs/debug-cpu/hf/huggingface/ba60")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", choices=("random", "trained"), default="random")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--softmax-dtype", choices=("float32", "model"), default="float32")
    parser.add_argument("--out", default="bench_out/eval.json")
    args = parser.parse_args(argv)

    from eval_gauntlet.evaluate import GauntletResult, evaluate_model, plan
    from eval_gauntlet.lm_eval_reference import loglikelihoods_of, run_lm_eval, samples_of
    from eval_gauntlet.options import Options
    from eval_gauntlet.scoring import choose, load_hf_model
    from eval_gauntlet.tasks import load_tasks

    options = Options(limit=args.limit, no_progress=True, softmax_dtype=args.softmax_dtype)
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        make = close_call_model if args.weights == "random" else as_dtype
        model_dir = make(args.model, work / "model", args.dtype)
        ours_s, theirs_s = [], []
        ours: GauntletResult | None = None
        theirs: dict[str, Any] = {}
        for _ in range(args.repeats):  # alternating, so that both see the same machine state
            start = time.perf_counter()
            planned = plan(list(load_tasks().values()), options)
            model, tokenizer = load_hf_model(model_dir)
            ours = evaluate_model(model, tokenizer, planned, options)
            ours_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            theirs = run_lm_eval(
                model_dir, planned, work, limit=args.limit, dtype=args.dtype,
                softmax_dtype=args.softmax_dtype,
            )  # fmt: skip
            theirs_s.append(time.perf_counter() - start)
    assert ours is not None
    items = same = same_norm = 0
    margins = []
    for p, result in zip(planned, ours.tasks, strict=True):
        for sample, prompt, mine in zip(
            samples_of(theirs, p), p.prompts, result.predictions, strict=True
        ):
            lls = loglikelihoods_of(sample)
            pick, pick_norm = choose(lls, prompt.choices)
            items += 1
            same += pick == mine.pred
            same_norm += pick_norm == mine.pred_norm
            best, second = sorted(lls, reverse=True)[:2]
            margins.append(best - second)
    ratio = statistics.median(theirs_s) / statistics.median(ours_s)
    summary = {
        "model": args.model,
        "weights": args.weights,
        "dtype": args.dtype,
        "softmax_dtype": args.softmax_dtype,
        "benchmarks": len(planned),
        "items": items,
        "same_pred": same,
        "same_pred_norm": same_norm,
        "smallest_margin": min(margins),
        "margins_below_0.01": sum(m < 0.01 for m in margins),
        "gauntlet_s": [round(s, 2) for s in ours_s],
        "lm_eval_s": [round(s, 2) for s in theirs_s],
        "speedup_median": round(ratio, 2),
    }
    report(
        f"{len(planned)} task/shot pairs, {items} items ({args.weights} weights, {args.dtype}, "
        f"log-softmax {args.softmax_dtype}); smallest best-vs-second margin "
        f"{min(margins):.2g} nats, {summary['margins_below_0.01']} items under 0.01\n"
        f"same acc pick {same}/{items}, same acc_norm pick {same_norm}/{items}\n"
        f"gauntlet {spread(ours_s)}, lm-eval {spread(theirs_s)}: {ratio:.2f}x faster "
        f"(medians of {args.repeats} alternating runs)",
        summary,
        args.out,
    )


if __name__ == "__main__":
    main()
