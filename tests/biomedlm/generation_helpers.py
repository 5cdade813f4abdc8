"""Shared pieces of the generation tests: a tiny tokenizer and model, synthetic data, a recipe."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.eval_gauntlet.tiny import tiny_model, train_tokenizer

REPO = Path(__file__).resolve().parents[2]
DEBUG_RECIPE = REPO / "recipes" / "finetune" / "patient-qa-debug-cpu.yaml"


@pytest.fixture(scope="session", name="tiny")
def tiny_generation_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer GPT-2 (d 64, 1024 positions) with a 1,000-token BPE, as an HF folder."""
    root = tmp_path_factory.mktemp("tiny-generation")
    return tiny_model(root / "model", train_tokenizer(root / "tokenizer"))


def single_token_words(tokenizer: object, n: int) -> list[str]:
    """``n`` words that are one token each, first in a text or after a space, in ``tokenizer``."""
    vocab = sorted(tokenizer.get_vocab())  # type: ignore[attr-defined]
    words = [t[1:] for t in vocab if t.startswith("Ġ") and t[1:].isalpha() and len(t) > 3]
    found = [
        w for w in words
        if len(tokenizer(" " + w)["input_ids"]) == len(tokenizer(w)["input_ids"]) == 1  # type: ignore[operator]
    ]  # fmt: skip
    assert len(found) >= n
    return found[:n]


def copy_task(path: Path, tokenizer: object, n_rows: int, length: int = 4, seed: int = 0) -> Path:
    """JSONL rows ``{"prompt": "w1 w2 w3 w4", "response": "w1 w2 w3 w4"}`` of random words."""
    words = single_token_words(tokenizer, 12)
    rng = random.Random(seed)
    seen: set[str] = set()
    with path.open("w", encoding="utf-8") as out:
        while len(seen) < n_rows:
            text = " ".join(rng.choice(words) for _ in range(length))
            if text not in seen:
                seen.add(text)
                out.write(json.dumps({"prompt": text, "response": text}) + "\n")
    return path


def jsonl_overrides(run: Path, init_from: Path, data: Path, *extra: str) -> list[str]:
    """The CPU demo recipe pointed at a tiny model and a JSONL file, every output under ``run``."""
    return [
        f"run_dir={run}",
        f"model.init_from={init_from}",
        "data.format=jsonl",
        f"data.train=[{data}]",
        "data.max_length=64",
        "data.test_limit=null",
        f"callbacks.loss_curve.folder={run}",
        "progress_bar=false",
        "log_to_console=true",
        "console_log_interval=1ba",
        *extra,
    ]
