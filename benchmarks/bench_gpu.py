"""GPU throughput of the pretraining recipes: tokens/s per GPU and model flops utilisation (MFU).

Usage (on a GPU node, from the repository root, after ``make prep-data`` for a tokenizer)::

    python -m benchmarks.bench_gpu                          # the 2.7B recipe and the ladder, 1 GPU
    python -m benchmarks.bench_gpu recipes/pretrain/biomedlm-2.7b.yaml --gpus 8 --global-batch 1024
    python -m benchmarks.bench_gpu --cpu recipes/pretrain/debug-cpu.yaml --batches 4 --warmup 1

For each recipe it writes random-token MDS shards at the recipe's context (throughput does not
depend on the text) and a derived recipe next to the results: the same model, precision, FSDP,
optimizer and algorithms, with the data pointed at those shards and no evaluation, checkpoints,
exports or watcher. That recipe runs through the users' own command, ``composer -n GPUS train
DERIVED.yaml``. Read from Composer's speed monitor over the last ``--batches - --warmup``
batches: tokens/s per device and MFU (flops from ``BioMedLM.flops_per_batch``, peak bf16 flops
of the detected GPU), and peak GPU memory from the memory monitor.

The global batch defaults to four micro-batches per GPU (a 2.7B step at the recipe's 1024
sequences takes half a minute on one GPU); pass ``--global-batch`` for the recipe's own.
Target (issue 3): MFU >= 45% for the 2.7B recipe at sequence length 1024 on an H100.
``--cpu`` runs the same harness on CPU (fp32, no FSDP): the tests use it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import report

REPO = Path(__file__).resolve().parents[1]


GPU_RECIPES = [
    "recipes/pretrain/ladder/biomedlm-125m.yaml",
    "recipes/pretrain/ladder/biomedlm-350m.yaml",
    "recipes/pretrain/ladder/biomedlm-1.3b.yaml",
    "recipes/pretrain/biomedlm-2.7b.yaml",
]
KEPT_CALLBACKS = ("speed_monitor", "memory_monitor", "lr_monitor")
METRICS = {
    "tokens_per_s_per_device": "throughput/device/tokens_per_sec",
    "mfu": "throughput/device/mfu",
    "peak_memory_gb": "memory/peak_allocated_mem",
}


def synthetic_shards(out: Path, samples: int, seq_len: int, vocab: int) -> Path:
    """``samples`` random-token sequences as MDS shards in ``out/train`` (reused when present)."""
    import numpy as np
    from streaming import MDSWriter

    split = out / "train"
    if (split / "index.json").is_file():
        return out
    dtype: Any = "uint16" if vocab <= 2**16 else "uint32"  # numpy's stubs overload on literals
    rng = np.random.default_rng(0)
    partial = out / "train.partial"
    shutil.rmtree(partial, ignore_errors=True)  # left by a run that was cut off
    with MDSWriter(out=str(partial), columns={"tokens": f"ndarray:{dtype}:{seq_len}"}) as writer:
        for _ in range(samples):
            writer.write({"tokens": rng.integers(0, vocab, seq_len, dtype=dtype)})
    partial.rename(split)
    return out


def derived_recipe(path: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The recipe as plain data, pointed at synthetic shards, with nothing but training left."""
    from transformers import AutoTokenizer

    from biomedlm.recipe_files import resolved
    from biomedlm.recipe_kinds import load_recipe

    checks = ["precision=fp32", "fsdp_config=null"] if args.cpu else []
    recipe = resolved(load_recipe(path, checks))
    tokenizer_dir = Path(recipe["tokenizer"]["path"])
    if not (tokenizer_dir / "tokenizer_config.json").is_file():
        tokenizer_dir = Path(args.tokenizer)  # the run's own tokenizer is not on this machine
    if not (tokenizer_dir / "tokenizer_config.json").is_file():
        sys.exit(
            f"error: no tokenizer at {tokenizer_dir}; run `make prep-data` or pass --tokenizer"
        )
    vocab = len(AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True))
    if tokenizer_dir != Path(recipe["tokenizer"]["path"]):
        print(
            f"note: {path.name}: its tokenizer is not here; using {tokenizer_dir} ({vocab:,} tokens)"
        )
    gpus = 1 if args.cpu else args.gpus
    micro = args.micro_batch or recipe["device_train_microbatch_size"]
    if not isinstance(micro, int):
        sys.exit(f"error: {path}: device_train_microbatch_size is {micro!r}; pass --micro-batch")
    global_batch = args.global_batch or micro * gpus * 4
    seq_len = recipe["model"]["max_seq_len"]
    samples = global_batch * (args.batches + 1)  # one epoch covers the run: no epoch boundary
    data = synthetic_shards(work / f"data-{seq_len}-{vocab}-{samples}", samples, seq_len, vocab)
    loader = recipe["train_loader"]
    loader["streams"] = {"synthetic": {"local": str(data), "remote": None, "proportion": None}}
    if args.cpu:
        loader.update(num_workers=0, prefetch_factor=None)
    callbacks = {k: v for k, v in recipe["callbacks"].items() if k in KEPT_CALLBACKS}
    callbacks["speed_monitor"] = {
        **callbacks.get("speed_monitor", {}),
        "window_size": args.batches - args.warmup,
    }
    recipe.update(
        base=None,
        run_name=f"bench-{path.stem}",
        run_dir=str(work / path.stem),
        tokenizer={"path": str(tokenizer_dir)},
        eval_loader=None,
        callbacks=callbacks,
        loggers={},
        global_train_batch_size=global_batch,
        device_train_microbatch_size=micro,
        max_duration=f"{args.batches}ba",
        save_folder=None,
        autoresume=False,
        progress_bar=False,
        log_to_console=True,
        console_log_interval="1ba",
    )
    if args.cpu:
        recipe.update(precision="fp32", fsdp_config=None)
    return recipe


def derive(path: Path, args: argparse.Namespace, work: Path) -> tuple[dict[str, Any], Path]:
    """The derived recipe, written to ``work/<recipe>.yaml`` (what the launcher is given)."""
    import yaml

    recipe = derived_recipe(path, args, work)
    derived = work / f"{path.stem}.yaml"
    derived.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return recipe, derived


def run(path: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    recipe, derived = derive(path, args, work)
    composer = Path(sys.executable).with_name("composer")
    gpus = 1 if args.cpu else args.gpus
    cmd = [str(composer), "-n", str(gpus), "train", str(derived)]
    print(f"$ {' '.join(cmd)}", flush=True)
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    log = out.stdout + out.stderr
    (work / f"{path.stem}.log").write_text(log)
    if out.returncode != 0:
        sys.exit(f"error: {derived} failed (log: {work / f'{path.stem}.log'}):\n{log[-2000:]}")
    result: dict[str, Any] = {
        "recipe": str(path),
        "gpus": gpus,
        "global_batch": recipe["global_train_batch_size"],
        "micro_batch": recipe["device_train_microbatch_size"],
        "seq_len": recipe["model"]["max_seq_len"],
        "precision": recipe["precision"],
    }
    params = re.findall(r"BioMedLM model: ([0-9,]+) parameters", log)
    result["parameters"] = int(params[-1].replace(",", "")) if params else None
    for key, metric in METRICS.items():
        values = re.findall(rf"{re.escape(metric)}: ([0-9.e+-]+)", log)
        result[key] = float(values[-1]) if values else None
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("recipes", nargs="*", type=Path, default=[Path(r) for r in GPU_RECIPES])
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--micro-batch", type=int, help="default: the recipe's")
    parser.add_argument("--global-batch", type=int, help="default: 4 micro-batches per GPU")
    parser.add_argument("--tokenizer", default="outputs/prep/sample/tokenizer")
    parser.add_argument("--cpu", action="store_true", help="the harness on CPU: fp32, no FSDP")
    parser.add_argument("--out", default="bench_out/gpu.json")
    parser.add_argument("--work", type=Path, default=REPO / "bench_out" / "gpu")
    parser.add_argument(
        "--derive-only", action="store_true", help="write the derived recipes to --work and stop"
    )
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.batches:
        sys.exit("error: --warmup must be between 0 and --batches")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.derive_only:
        for path in args.recipes:
            print(derive(path, args, work)[1])
        return
    results = [run(path, args, work) for path in args.recipes]
    lines = [f"{'recipe':22s} {'params':>14s} {'tok/s/device':>13s} {'MFU':>6s} {'peak GB':>8s}"]
    for r in results:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        mem = f"{r['peak_memory_gb']:.1f}" if r["peak_memory_gb"] is not None else "n/a"
        params = f"{r['parameters']:,}" if r["parameters"] else "?"
        tps = r["tokens_per_s_per_device"] or 0.0
        lines.append(f"{Path(r['recipe']).stem:22s} {params:>14s} {tps:13,.0f} {mfu:>6s} {mem:>8s}")
    lines.append("target: MFU >= 45% for biomedlm-2.7b at sequence length 1024 on an H100")
    report("\n".join(lines), {"results": results}, args.out)


if __name__ == "__main__":
    main()
