"""Multiple-choice fine-tuning throughput: the recipe vs a plain Hugging Face ``Trainer`` loop.

Usage::

    python -m benchmarks.bench_finetune [MODEL] [--batches 30] [--warmup 5] [--repeats 3]
    make bench-finetune                    # MODEL: the debug run's last export (make train)

Both sides fine-tune the same model (the debug run's export by default) on the same questions
(the gauntlet's 1,273 MedQA questions, 4 options, 256 tokens at most), 16 questions a batch,
with the same optimizer (Composer's DecoupledAdamW, weight decay 0, linear schedule with warmup
over half of training, gradient clipping at 1.0), fp32:

- the recipe: ``recipes/finetune/medqa-debug-cpu.yaml`` through ``python -m biomedlm.train``
  (Composer, llm-foundry), each question read once and its keys and values reused by its
  options; also with ``model.share_prompt=false`` (each pair read whole, as the paper);
- the reference, laid out like the BioMedLM scripts' ``run_multiple_choice.py``: each
  (question, option) pair tokenized as a pair of sentences ending in ``[SEP]``, padded per
  batch by their ``DataCollatorForMultipleChoice``, a ``GPT2ForMultipleChoice``-style head (the
  last non-pad token's hidden state through a linear layer), Hugging Face's ``Trainer``.

Questions per second over the batches after ``--warmup``; the sides alternate ``--repeats``
times, each in a fresh process (``--threads N`` sets ``OMP_NUM_THREADS`` for all of them: one
thread keeps the figures steady on a busy machine); the median and the spread (min-max) of
each, and the ratio of medians. Target (issue 7): the recipe >= 1.0x the reference, aim 1.5x.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.report import report

REPO = Path(__file__).resolve().parents[1]


DATA = REPO / "medtasks" / "data" / "medqa_usmle_4opt_test.jsonl"
RECIPE = REPO / "recipes" / "finetune" / "medqa-debug-cpu.yaml"
MODEL = REPO / "runs" / "debug-cpu" / "hf" / "huggingface" / "ba60"
BATCH, MAX_LENGTH, LR = 16, 256, 1e-4
ENV = dict(os.environ)  # each side's process environment (--threads sets OMP_NUM_THREADS)


def recipe_questions_per_s(model: Path, batches: int, warmup: int, share: bool) -> float:
    out = REPO / "bench_out" / "finetune_run"
    cmd = [
        sys.executable,
        "-m",
        "biomedlm.train",
        str(RECIPE),
        f"model.init_from={model}",
        f"model.share_prompt={str(share).lower()}",
        f"data.train=[{DATA}]",
        "data.split=null",
        f"data.max_length={MAX_LENGTH}",
        f"optimizer.lr={LR}",
        f"global_train_batch_size={BATCH}",
        f"device_train_microbatch_size={BATCH}",
        f"max_duration={batches}ba",
        "eval.test_after_fit=false",
        "eval_interval=100000ba",
        "save_folder=null",
        f"run_dir={out}",
        "autoresume=false",
        f"callbacks.finetune_export.save_folder={out}/hf",
        f"callbacks.loss_curve.folder={out}",
        f"callbacks.speed_monitor={{window_size: {batches - warmup}}}",
        "algorithms={gradient_clipping: {clipping_type: norm, clipping_threshold: 1.0}}",
        "progress_bar=false",
        "log_to_console=true",
        f"console_log_interval={batches}ba",
    ]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=ENV)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    values = re.findall(r"throughput/samples_per_sec: ([0-9.e+]+)", result.stdout + result.stderr)
    return float(values[-1])


def reference_features(tokenizer: Any, n: int) -> list[dict[str, Any]]:
    """The first ``n`` MedQA questions encoded as the scripts encode them (question, option pairs)."""
    rows = [json.loads(line) for line in DATA.open()]
    features = []
    for row in rows[:n]:
        first = [row["question"] + tokenizer.sep_token] * len(row["options"])
        second = [f" {text}{tokenizer.sep_token}" for text in row["options"].values()]
        enc = tokenizer(first, second, truncation=True, max_length=MAX_LENGTH)
        label = list(row["options"]).index(row["answer_idx"])
        features.append(
            {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "label": label}
        )
    return features


def reference_collate(tokenizer: Any) -> Any:
    """The scripts' ``DataCollatorForMultipleChoice``: pad the pairs, one row of choices a question."""
    import torch

    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:  # DataCollatorForMultipleChoice
        k = len(items[0]["input_ids"])
        flat = [
            {"input_ids": i["input_ids"][j], "attention_mask": i["attention_mask"][j]}
            for i in items
            for j in range(k)
        ]
        batch = tokenizer.pad(flat, padding=True, return_tensors="pt")
        batch = {key: value.view(len(items), k, -1) for key, value in batch.items()}
        return {**batch, "labels": torch.tensor([i["label"] for i in items])}

    return collate


def reference_model(model_dir: Path, tokenizer: Any) -> Any:
    """The scripts' ``GPT2ForMultipleChoice`` (forward only): the last non-pad token's state, scored;
    in the attention the recipe's model runs (:func:`biomedlm.attention.attention_for`)."""
    import torch
    from torch import nn
    from transformers import AutoConfig, GPT2Model

    from biomedlm.attention import attention_for

    attention = attention_for(AutoConfig.from_pretrained(model_dir), None)

    class MultipleChoice(nn.Module):  # the scripts' GPT2ForMultipleChoice, forward only
        def __init__(self) -> None:
            super().__init__()
            self.transformer = GPT2Model.from_pretrained(model_dir, attn_implementation=attention)
            self.transformer.resize_token_embeddings(len(tokenizer))
            self.classifier = nn.Linear(self.transformer.config.n_embd, 1)

        def forward(self, input_ids: Any, attention_mask: Any, labels: Any) -> dict[str, Any]:
            b, k, width = input_ids.shape
            flat = input_ids.view(-1, width)
            hidden = self.transformer(flat, attention_mask=attention_mask.view(-1, width))[0]
            last = flat.ne(tokenizer.pad_token_id).sum(-1) - 1
            logits = self.classifier(hidden)[torch.arange(b * k), last].view(b, k)
            return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

    return MultipleChoice()


def reference_questions_per_s(model_dir: Path, batches: int, warmup: int) -> float:
    """The BioMedLM scripts' layout and head through Hugging Face's Trainer (this process)."""
    import torch
    from composer.optim import DecoupledAdamW
    from transformers import (
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        get_linear_schedule_with_warmup,
    )

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.add_special_tokens({"pad_token": "[PAD]", "sep_token": "[SEP]"})

    features = reference_features(tokenizer, batches * BATCH)
    collate = reference_collate(tokenizer)

    torch.manual_seed(17)
    model = reference_model(model_dir, tokenizer)
    optimizer = DecoupledAdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, batches // 2, batches)
    times: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            times[state.global_step] = time.perf_counter()

    args = TrainingArguments(
        output_dir=str(REPO / "bench_out" / "finetune_hf"),
        per_device_train_batch_size=BATCH,
        max_steps=batches,
        max_grad_norm=1.0,
        logging_strategy="no",
        save_strategy="no",
        report_to=[],
        seed=17,
        use_cpu=True,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    trainer: Any = Trainer(  # mypy does not find Trainer.train
        model=model,
        args=args,
        train_dataset=features,
        data_collator=collate,
        optimizers=(optimizer, schedule),
        callbacks=[Clock()],
    )
    trainer.train()
    return (batches - warmup) * BATCH / (times[batches] - times[warmup])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f}  ({min(values):.1f}-{max(values):.1f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, nargs="?", default=MODEL)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of every side")
    parser.add_argument("--out", default="bench_out/finetune.json")
    parser.add_argument("--reference-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        ENV["OMP_NUM_THREADS"] = str(args.threads)
    if args.reference_only:  # one reference measurement, in a fresh process
        print(reference_questions_per_s(args.model, args.batches, args.warmup))
        return
    sides: dict[str, list[float]] = {"recipe": [], "recipe_pairs": [], "reference": []}
    for _ in range(args.repeats):
        sides["recipe"].append(recipe_questions_per_s(args.model, args.batches, args.warmup, True))
        sides["recipe_pairs"].append(
            recipe_questions_per_s(args.model, args.batches, args.warmup, False)
        )
        command = [
            sys.executable,
            "-m",
            "benchmarks.bench_finetune",
            str(args.model),
            "--reference-only",
        ]
        command += [f"--batches={args.batches}", f"--warmup={args.warmup}"]
        reference = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, check=True, env=ENV
        )
        sides["reference"].append(float(reference.stdout.strip().splitlines()[-1]))
    median = {name: statistics.median(values) for name, values in sides.items()}
    ratio = median["recipe"] / median["reference"]
    pairs_ratio = median["recipe_pairs"] / median["reference"]
    result = {
        "threads": args.threads,
        **{f"{name}_questions_per_s": [round(v, 2) for v in vs] for name, vs in sides.items()},
        "ratio": round(ratio, 3),
        "pairs_ratio": round(pairs_ratio, 3),
    }
    report(
        f"questions/s, median (min-max) of {args.repeats}, threads: {args.threads or 'default'}\n"
        f"recipe (question read once)      {spread(sides['recipe'])}\n"
        f"recipe (each pair read whole)    {spread(sides['recipe_pairs'])}\n"
        f"HF Trainer, the paper's layout   {spread(sides['reference'])}\n"
        f"recipe / reference               {ratio:.2f}x  (target >= 1.0x, aim 1.5x)\n"
        f"recipe, pairs / reference        {pairs_ratio:.2f}x",
        result,
        args.out,
    )


if __name__ == "__main__":
    main()
