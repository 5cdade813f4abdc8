"""Gauntlet vs lm-evaluation-harness 0.4.13: wall time and identical answers, in one run.

Usage::

    python benchmarks/bench_eval.py [MODEL_DIR] [--limit 100]    # default model: runs/debug-cpu/hf/huggingface/ba60

Both score the same Hugging Face model on every task and shot count of the catalogue, the same
items (the first ``--limit`` of each), the same prompts and the same few-shot examples (lm-eval
runs its own installed task YAMLs on our items through the parity test's task configs).
Printed: wall time of each, the ratio (target: gauntlet >= 2x faster on CPU), and how many
per-example choices agree.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.report import report  # noqa: E402

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", default="runs/debug-cpu/hf/huggingface/ba60")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--out", default="bench_out/eval.json")
    args = parser.parse_args()

    import lm_eval
    from lm_eval.tasks import TaskManager

    import tests.eval_gauntlet.test_parity as parity
    from eval_gauntlet.evaluate import Options, evaluate_model, plan
    from eval_gauntlet.scoring import choose, load_hf_model
    from eval_gauntlet.tasks import load_tasks

    parity.LIMIT = args.limit
    options = Options(limit=args.limit, progress=False)
    planned = plan(list(load_tasks().values()), options)
    start = time.perf_counter()
    model, tokenizer = load_hf_model(args.model)
    ours = evaluate_model(model, tokenizer, planned, options)
    t_ours = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        theirs = lm_eval.simple_evaluate(
            model="hf",
            model_args={"pretrained": args.model, "dtype": "float32"},
            tasks=[parity.upstream_config(p.task, p.shots, Path(work)) for p in planned],
            batch_size=8,
            device="cpu",
            limit=args.limit,
            bootstrap_iters=0,
            log_samples=True,
            task_manager=TaskManager(include_defaults=False),
        )
        t_theirs = time.perf_counter() - start
    items = agree = 0
    for p, result in zip(planned, ours.tasks, strict=True):
        samples = sorted(
            theirs["samples"][f"parity_{p.task.name}_{p.shots}"], key=lambda s: s["doc_id"]
        )
        for sample, prompt, mine in zip(samples, p.prompts, result.predictions, strict=True):
            pick, _ = choose([x[0] for x in sample["filtered_resps"]], prompt.choices)
            items += 1
            agree += pick == mine.pred
    summary = {
        "model": args.model,
        "items": items,
        "same_choice": agree,
        "gauntlet_s": round(t_ours, 1),
        "lm_eval_s": round(t_theirs, 1),
        "speedup": round(t_theirs / t_ours, 2),
    }
    report(
        f"items {items}, same choice {agree}\ngauntlet {t_ours:.1f} s, lm-eval {t_theirs:.1f} s: "
        f"{t_theirs / t_ours:.2f}x faster (target >= 2x)",
        summary,
        args.out,
    )


if __name__ == "__main__":
    main()
