"""Tiny model factory: a random 2-layer GPT-2 and a byte-level BPE trained in-process."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "medtasks" / "data"
END = "<|endoftext|>"


FIXTURE_FILES = (  # fixed, so that a data file added later leaves the tiny tokenizer as it is
    "medqa_usmle_4opt_test.jsonl",
    "mmlu_medical_test.jsonl",
    "pubmedqa_labeled_test.jsonl",
    "pubmedqa_labeled_train.jsonl",
)


def fixture_text(rows_per_file: int = 200) -> list[str]:
    """Question and option texts from the shipped benchmarks, to train the tiny tokenizer."""
    texts = []
    for path in (DATA / name for name in FIXTURE_FILES):
        with path.open(encoding="utf-8") as lines:
            for line in itertools.islice(lines, rows_per_file):
                row = json.loads(line)
                texts.append(row["question"] + "\n" + "\n".join(row["options"].values()))
    return texts


def train_tokenizer(out_dir: Path, vocab_size: int = 1000) -> Path:
    """A byte-level BPE (no prefix space, ``<|endoftext|>``) saved as a GPT2TokenizerFast."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(
        fixture_text(),
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[END],
        show_progress=False,
    )
    raw = out_dir / "bpe"
    raw.mkdir(parents=True, exist_ok=True)
    vocab, merges = bpe.save_model(str(raw))
    tokenizer = GPT2TokenizerFast(
        vocab_file=vocab, merges_file=merges, unk_token=END, bos_token=END, eos_token=END
    )
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_model(out_dir: Path, tokenizer_dir: Path, seed: int = 0, **overrides: object) -> Path:
    """A randomly initialised 2-layer, d=64 GPT2LMHeadModel saved with the tokenizer in ``out_dir``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    tokenizer = GPT2TokenizerFast.from_pretrained(tokenizer_dir)
    settings: dict[str, object] = {
        "vocab_size": len(tokenizer),
        "n_positions": 1024,
        "n_embd": 64,
        "n_layer": 2,
        "n_head": 2,
        "initializer_range": 0.2,  # wider logits than GPT-2's 0.02: choices rarely near-tie
        "bos_token_id": tokenizer.eos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    settings.update(overrides)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**settings)).eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def to_bf16(model_dir: Path, out_dir: Path) -> Path:
    """The model of ``model_dir`` saved in bfloat16 (config ``torch_dtype``) with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.bfloat16)
    model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out_dir)
    return out_dir


def lr0_run(hf_dir: Path, save_folder: Path, *, batches: int = 1, seq_len: int = 8) -> Path:
    """A Composer ``save_folder`` of ``hf_dir``'s causal LM: ``ep0-ba{n}-rank0.pt`` a batch.

    Trained at learning rate 0 on random tokens (batches of 2), so its weights are ``hf_dir``'s:
    scoring the checkpoints or ``hf_dir`` must agree.
    """
    import torch
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(hf_dir, local_files_only=True))
    ids = torch.randint(
        0, vocab, (2 * batches, seq_len), generator=torch.Generator().manual_seed(0)
    )
    return composer_fit(hf_dir, save_folder, ids, lr=0.0, save_at=range(1, batches + 1))


def text_ids(hf_dir: Path, texts: list[str], rows: int, seq_len: int) -> Any:
    """``rows`` sequences of ``seq_len`` tokens: ``texts`` tokenized, joined by EOS, cut up."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
        if len(stream) >= rows * seq_len:
            break
    if len(stream) < rows * seq_len:
        raise ValueError(f"{len(stream)} tokens of text; {rows} x {seq_len} wanted")
    return torch.tensor(stream[: rows * seq_len]).view(rows, seq_len)


def composer_fit(
    hf_dir: Path, save_folder: Path, ids: Any, *, lr: float, save_at: Iterable[int]
) -> Path:
    """Train ``hf_dir``'s causal LM with Composer on ``ids`` (batches of 2 rows, one epoch),
    saving ``ep0-ba{n}-rank0.pt`` after each batch ``n`` in ``save_at``."""
    import torch
    from composer import Trainer
    from composer.models import HuggingFaceModel
    from composer.optim import DecoupledAdamW
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(hf_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
    loader = torch.utils.data.DataLoader([{"input_ids": r, "labels": r} for r in ids], batch_size=2)
    composer_model = HuggingFaceModel(model, tokenizer=tokenizer, use_logits=True)
    batches = set(save_at)
    Trainer(
        model=composer_model,
        train_dataloader=loader,
        optimizers=DecoupledAdamW(composer_model.parameters(), lr=lr, weight_decay=0.0),
        max_duration=f"{len(loader)}ba",
        save_folder=str(save_folder),
        save_interval=lambda state, event: int(state.timestamp.batch) in batches,
        device="cpu",
        progress_bar=False,
        seed=0,
    ).fit()
    return save_folder
