"""Gauntlet vs lm-evaluation-harness 0.4.13 and vs the floor: time, tokens forwarded, same answers.

Usage::

    python -m benchmarks.bench_eval [MODEL_DIR] [--parts debug,floor,counts] [--limit 100]
                                    [--floor-limit 20] [--repeats 3] [--weights random]
                                    [--dtype float32|bfloat16] [--softmax-dtype float32|model]
                                    [--tasks-file FILE]

Three parts, each on MODEL_DIR's tokenizer (the debug run's: data_prep's sample tokenizer):

``debug``: MODEL_DIR's own architecture (``make bench-eval``: the debug model, where Python
overhead, not the forward, sets the time), the first ``--limit`` items of every task and shot
count of the catalogue. ``floor``: a close-call GPT-2 large enough that the forward dominates on
CPU (8 layers x d 512, 1,024 positions), the first ``--floor-limit`` items, and a bare batched
forward over the floor's tokens (rows of 1,024, the model's body only) as the reference for
wall time. Both score the same model by their own code: lm-eval runs its installed task YAMLs,
samplers and scorer on our rows (``benchmarks/lm_eval_reference.py``). ``counts``: the
tokens the gauntlet forwards on the whole catalogue at its default shots (a one-layer model:
counts do not depend on the weights), against the floor.

The floor is the node count of the token trie of every scored input (``token_counts.py``):
a few-shot prefix once for the items that show it, a context once for its choices. It is
summed over benchmarks (the gauntlet scores one at a time) and also given catalogue-wide.
Forwarded tokens are counted at the model's input embedding (real tokens; positions with the
padding). ``debug`` and ``floor`` compare like for like: the gauntlet scores lm-eval's requests
(``gold_text_bpb``'s cloze prompts off); ``counts`` runs the gauntlet's default (cloze on).

``--weights random`` (default) draws the weights at GPT-2's scale (initializer_range 0.02,
seeded): choices are close calls, where a different prompt, example or rounding changes the
answer (``--weights trained`` keeps MODEL_DIR's, for the debug part). Printed: wall time over
``--repeats`` alternating runs (median and range), the ratio of the medians, tokens forwarded
and the floors, how many items got the same ``acc`` and ``acc_norm`` picks, and the smallest
margin between the best and the second choice.
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
from benchmarks.token_counts import bare_forward, counting, scored_inputs, trie_nodes
from medtasks.catalogue import DEFAULT_TASKS_FILE

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FLOOR_SHAPE = {"n_layer": 8, "n_embd": 512, "n_head": 8, "n_positions": 1024}
COUNTS_SHAPE = {"n_layer": 1, "n_embd": 64, "n_head": 2, "n_positions": 1024}


def close_call_model(
    model_dir: str, out_dir: Path, dtype: str, seed: int = 0, **shape: int
) -> Path:
    """``model_dir``'s architecture (or ``shape``) and tokenizer, weights at range 0.02."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    config.update({"initializer_range": 0.02, **shape})
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


def floors(model_dir: Path, planned: list[Any], gold_text: bool) -> dict[str, Any]:
    """The floor of the inputs scored for ``planned`` (with the cloze prompts: ``gold_text``)."""
    from eval_gauntlet.scoring import context_length, load_hf_model

    model, tokenizer = load_hf_model(model_dir)
    max_length = context_length(model, tokenizer)
    rows = model.get_input_embeddings().num_embeddings
    assert rows != max_length, "the counting hook tells the embeddings apart by their rows"
    pads = {0} | ({tokenizer.pad_token_id} - {None})
    inputs = [scored_inputs(tokenizer, p.prompts, max_length, gold_text) for p in planned]
    assert not any(pads & set(seq) for part in inputs for seq in part), "a pad id is scored"
    return {
        "rows": rows,
        "pads": pads,
        "floor": sum(trie_nodes(part) for part in inputs),
        "floor_catalogue_wide": trie_nodes([seq for part in inputs for seq in part]),
        "distinct_windows": sum(sum(len(seq) for seq in set(part)) for part in inputs),
    }


def agreement(planned: list[Any], ours: Any, theirs: dict[str, Any]) -> dict[str, Any]:
    """How many items the gauntlet and lm-eval pick alike, and how close their calls are."""
    from benchmarks.lm_eval_reference import loglikelihoods_of, samples_of
    from eval_gauntlet.scoring import choose

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
    return {
        "items": items,
        "same_pred": same,
        "same_pred_norm": same_norm,
        "smallest_margin": min(margins),
        "margins_below_0.01": sum(m < 0.01 for m in margins),
    }


def compare(
    model_dir: Path, args: argparse.Namespace, limit: int, work: Path, *, bare: bool
) -> dict[str, Any]:
    """The gauntlet and lm-eval on ``model_dir`` (and a bare forward over the floor's tokens).

    Like for like: the gauntlet scores lm-eval's requests only (``no_gold_text``).
    """
    from benchmarks.lm_eval_reference import run_lm_eval
    from eval_gauntlet.evaluate import GauntletResult, evaluate_model, plan
    from eval_gauntlet.options import Options
    from eval_gauntlet.scoring import load_hf_model
    from eval_gauntlet.tasks import load_tasks

    options = Options(
        limit=limit, no_progress=True, softmax_dtype=args.softmax_dtype, no_gold_text=True
    )
    catalogue = list(load_tasks(args.tasks_file).values())
    floor = floors(model_dir, plan(catalogue, options), gold_text=False)
    seconds: dict[str, list[float]] = {"gauntlet": [], "lm_eval": [], "bare": []}
    ours: GauntletResult | None = None
    theirs: dict[str, Any] = {}
    for _ in range(args.repeats):  # alternating, so that each sees the same machine state
        with counting(floor["rows"], floor["pads"]) as ours_tokens:
            start = time.perf_counter()
            planned = plan(catalogue, options)
            model, tokenizer = load_hf_model(model_dir)
            ours = evaluate_model(model, tokenizer, planned, options)
            seconds["gauntlet"].append(time.perf_counter() - start)
        with counting(floor["rows"], floor["pads"]) as theirs_tokens:
            start = time.perf_counter()
            theirs = run_lm_eval(
                model_dir, planned, work, limit=limit, dtype=args.dtype,
                softmax_dtype=args.softmax_dtype,
            )  # fmt: skip
            seconds["lm_eval"].append(time.perf_counter() - start)
        if bare:
            seconds["bare"].append(bare_forward(model, floor["floor"], 1024, options.batch_size))
    assert ours is not None
    median = {side: statistics.median(s) for side, s in seconds.items() if s}
    return {
        "benchmarks": len(planned),
        **agreement(planned, ours, theirs),
        "seconds": {side: [round(x, 2) for x in s] for side, s in seconds.items() if s},
        "speedup_median": round(median["lm_eval"] / median["gauntlet"], 2),
        "vs_bare": round(median["gauntlet"] / median["bare"], 2) if bare else None,
        "tokens": {"gauntlet": ours_tokens.tokens, "lm_eval": theirs_tokens.tokens},
        "positions": {"gauntlet": ours_tokens.positions, "lm_eval": theirs_tokens.positions},
        **{k: v for k, v in floor.items() if k not in ("rows", "pads")},
    }


def counts(model_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Tokens the gauntlet forwards on the whole catalogue at its default shots."""
    from eval_gauntlet.evaluate import evaluate_model, plan
    from eval_gauntlet.options import Options
    from eval_gauntlet.scoring import load_hf_model
    from eval_gauntlet.tasks import load_tasks

    options = Options(no_progress=True)
    planned = plan(list(load_tasks(args.tasks_file).values()), options)
    floor = floors(model_dir, planned, gold_text=True)
    choices = floors(model_dir, planned, gold_text=False)
    model, tokenizer = load_hf_model(model_dir)
    with counting(floor["rows"], floor["pads"]) as forwarded:
        evaluate_model(model, tokenizer, planned, options)
    return {
        "benchmarks": len(planned),
        "items": sum(len(p.prompts) for p in planned),
        "tokens": forwarded.tokens,
        "positions": forwarded.positions,
        "floor_without_gold_text": choices["floor"],
        **{k: v for k, v in floor.items() if k not in ("rows", "pads")},
    }


def describe(name: str, part: dict[str, Any]) -> str:
    tokens, floor = part["tokens"], part["floor"]
    ours = tokens["gauntlet"] if isinstance(tokens, dict) else tokens
    lines = [
        f"{name}: {part['benchmarks']} task/shot pairs, {part['items']} items; floor "
        f"{floor:,} tokens ({part['floor_catalogue_wide']:,} catalogue-wide); distinct windows "
        f"{part['distinct_windows']:,}",
        f"  gauntlet forwarded {ours:,} tokens = {ours / floor:.3f}x the floor "
        f"({part['positions']['gauntlet'] if isinstance(tokens, dict) else part['positions']:,} "
        "positions with padding)",
    ]
    if "floor_without_gold_text" in part:
        lines.append(
            f"  gold_text_bpb's cloze prompts included; without them the floor is "
            f"{part['floor_without_gold_text']:,}"
        )
    if isinstance(tokens, dict):
        lines += [
            f"  lm-eval forwarded {tokens['lm_eval']:,} tokens = {tokens['lm_eval'] / floor:.2f}x "
            f"the floor ({part['positions']['lm_eval']:,} positions)",
            f"  same acc pick {part['same_pred']}/{part['items']}, same acc_norm pick "
            f"{part['same_pred_norm']}/{part['items']}; smallest margin "
            f"{part['smallest_margin']:.2g} nats, {part['margins_below_0.01']} under 0.01",
            f"  gauntlet {spread(part['seconds']['gauntlet'])}, lm-eval "
            f"{spread(part['seconds']['lm_eval'])}: {part['speedup_median']:.2f}x faster",
        ]
        if part["vs_bare"] is not None:
            lines.append(
                f"  bare forward over the floor's tokens {spread(part['seconds']['bare'])}: "
                f"the gauntlet takes {part['vs_bare']:.2f}x it"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", default="runs/debug-cpu/hf/huggingface/ba60")
    parser.add_argument("--parts", default="debug,floor,counts")
    parser.add_argument("--limit", type=int, default=100, help="items per benchmark: debug")
    parser.add_argument("--floor-limit", type=int, default=20, help="items per benchmark: floor")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", choices=("random", "trained"), default="random")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--softmax-dtype", choices=("float32", "model"), default="float32")
    parser.add_argument("--tasks-file", default=str(DEFAULT_TASKS_FILE))
    parser.add_argument("--out", default="bench_out/eval.json")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    if unknown := set(parts) - {"debug", "floor", "counts"}:
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}")

    summary: dict[str, Any] = {"model": args.model, "weights": args.weights, "dtype": args.dtype,
                               "softmax_dtype": args.softmax_dtype, "load": os.getloadavg()}  # fmt: skip
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        if "debug" in parts:
            make = close_call_model if args.weights == "random" else as_dtype
            model_dir = make(args.model, work / "debug", args.dtype)
            summary["debug"] = compare(model_dir, args, args.limit, work, bare=False)
        if "floor" in parts:
            model_dir = close_call_model(args.model, work / "floor", args.dtype, **FLOOR_SHAPE)
            summary["floor"] = compare(model_dir, args, args.floor_limit, work, bare=True)
        if "counts" in parts:
            model_dir = close_call_model(args.model, work / "counts", "float32", **COUNTS_SHAPE)
            summary["counts"] = counts(model_dir, args)
    summary["load_after"] = os.getloadavg()
    lines = [
        f"{args.weights} weights, {args.dtype}, log-softmax {args.softmax_dtype}, medians of "
        f"{args.repeats} alternating runs; load average {summary['load'][0]:.1f} before, "
        f"{summary['load_after'][0]:.1f} after"
    ]
    titles = {"debug": f"debug model ({args.model})", "floor": "forward-dominated model "
              "(8 layers x d 512, 1,024 positions)", "counts": "whole catalogue"}  # fmt: skip
    lines += [describe(titles[part], summary[part]) for part in parts]
    report("\n".join(lines), summary, args.out)


if __name__ == "__main__":
    main()
