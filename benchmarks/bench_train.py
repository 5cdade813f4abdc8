"""Training throughput: the debug recipe through Composer vs a bare PyTorch loop, in one run.

Usage::

    python -m benchmarks.bench_train [--batches 30] [--warmup 5]      # CPU, after `make prep-data`

Both sides train the same model (the recipe's BioMedLM GPT-2, built through llm-foundry's
registry), on the same MDS shards (llm-foundry's text loader), with the same optimizer
(Composer's DecoupledAdamW), schedule-free, gradient clipping at 1.0, fp32. Composer's side runs
the recipe through ``llmfoundry.command_utils.train`` with evaluation and checkpoints pushed past
the end; its tokens/s is read from the speed monitor. Target (issue 3): Composer >= 0.9x the
bare loop. Timings exclude the first ``--warmup`` batches. Also measured: the recipe with
llm-foundry's per-batch training metrics switched back on (the recipe turns them off: on a
model this small, two more cross-entropies over the vocabulary cost about a quarter of a step).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.report import report

REPO = Path(__file__).resolve().parents[1]


RECIPE = REPO / "recipes" / "pretrain" / "debug-cpu.yaml"


def composer_tokens_per_s(batches: int, warmup: int, extra: tuple[str, ...] = ()) -> float:
    cmd = [
        sys.executable,
        "-m",
        "biomedlm.train",
        str(RECIPE),
        f"max_duration={batches}ba",
        "eval_interval=100000ba",
        "save_interval=100000ba",
        "save_folder=null",
        "run_dir=bench_out/train_run",
        "autoresume=false",
        "callbacks.hf_checkpointer.save_interval=100000ba",
        "callbacks.hf_checkpointer.save_folder=bench_out/train_hf",
        "callbacks.loss_curve.folder=bench_out/train_run",
        f"callbacks.speed_monitor.window_size={batches - warmup}",
        "progress_bar=false",
        "log_to_console=true",
        f"console_log_interval={batches}ba",
        *extra,
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    values = re.findall(r"throughput/tokens_per_sec: ([0-9.e+]+)", out.stdout + out.stderr)
    return float(values[-1])


def bare_tokens_per_s(batches: int, warmup: int) -> float:
    import torch
    from composer.optim import DecoupledAdamW
    from llmfoundry.utils.builders import build_composer_model

    from biomedlm.foundry_config import to_foundry
    from biomedlm.preflight import preflight
    from biomedlm.recipe_kinds import load_recipe

    recipe = load_recipe(RECIPE)
    cfg = to_foundry(recipe, preflight(recipe))
    from llmfoundry.data.text_data import build_text_dataloader
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(recipe.tokenizer.path)
    torch.manual_seed(recipe.seed)
    model_cfg = {k: v for k, v in cfg["model"].items() if k != "name"}
    model = build_composer_model("biomedlm", model_cfg, tokenizer).model
    model.train()
    loader_cfg = dict(cfg["train_loader"])
    loader_cfg.pop("name")
    spec = build_text_dataloader(
        tokenizer=tokenizer, device_batch_size=recipe.global_train_batch_size, **loader_cfg
    )
    opt = {k: v for k, v in recipe.optimizer.items() if k != "name"}
    optimizer = DecoupledAdamW(model.parameters(), **{**opt, "betas": tuple(opt["betas"])})
    tokens, start = 0, 0.0
    for i, batch in enumerate(spec.dataloader):
        if i == warmup:
            tokens, start = 0, time.perf_counter()
        if i == batches:
            break
        loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += batch["input_ids"].numel()
    return tokens / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default="bench_out/train.json")
    args = parser.parse_args(argv)
    composer = composer_tokens_per_s(args.batches, args.warmup)
    metrics = composer_tokens_per_s(args.batches, args.warmup, ("model.use_train_metrics=true",))
    bare = bare_tokens_per_s(args.batches, args.warmup)
    result = {
        "composer_tokens_per_s": round(composer),
        "composer_with_train_metrics_tokens_per_s": round(metrics),
        "bare_tokens_per_s": round(bare),
        "ratio": round(composer / bare, 3),
    }
    report(
        f"composer                    {composer:10,.0f} tok/s\n"
        f"composer + train metrics    {metrics:10,.0f} tok/s\n"
        f"bare PyTorch loop           {bare:10,.0f} tok/s\n"
        f"composer / bare             {composer / bare:.2f}x  (target >= 0.9x)",
        result,
        args.out,
    )


if __name__ == "__main__":
    main()
