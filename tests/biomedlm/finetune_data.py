"""Fixtures of the fine-tuning tests: the tiny model, synthetic sets that can be learned, checkpoints."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.eval_gauntlet.tiny import lr0_run, tiny_model, train_tokenizer

REPO = Path(__file__).resolve().parents[2]
WORDS = [
    "patient",
    "fever",
    "cough",
    "liver",
    "kidney",
    "heart",
    "lung",
    "blood",
    "pressure",
    "dose",
    "therapy",
    "acute",
    "chronic",
    "infection",
    "treatment",
    "symptoms",
    "diagnosis",
    "chest",
    "pain",
    "history",
    "examination",
    "normal",
    "elevated",
]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer GPT-2 causal LM with its 1,000-token tokenizer (1024 positions)."""
    tokenizer = train_tokenizer(tmp_path_factory.mktemp("ft_tokenizer"))
    return tiny_model(tmp_path_factory.mktemp("ft_tiny"), tokenizer)


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def synthetic_choice(path: Path, n: int, seed: int, options: int = 4) -> Path:
    """MedQA-format questions whose gold option alone ends in "indeed" (recognisable)."""
    rng = random.Random(seed)
    letters = "ABCDEFGH"[:options]
    with path.open("w") as out:
        for i in range(n):
            gold = rng.randrange(options)
            texts = {
                letter: _sentence(rng, rng.randint(1, 4)) + (" indeed" if j == gold else "")
                for j, letter in enumerate(letters)
            }
            row = {"id": f"q{seed}-{i}", "question": _sentence(rng, rng.randint(4, 30))}
            out.write(json.dumps({**row, "options": texts, "answer_idx": letters[gold]}) + "\n")
    return path


def synthetic_classification(path: Path, n: int, seed: int) -> Path:
    """BioASQ-format items whose context says "increased" (yes) or "decreased" (no)."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(n):
            yes = rng.random() < 0.5
            words = [rng.choice(WORDS) for _ in range(rng.randint(5, 30))]
            for _ in range(2):  # the finding, stated twice somewhere in the passage
                words.insert(rng.randint(0, len(words)), "increased" if yes else "decreased")
            context = " ".join(words)
            out.write(
                f"s{seed}-{i}\tis {_sentence(rng, 3)} raised?\t{context}\t{'yes' if yes else 'no'}\n"
            )
    return path


def composer_checkpoint(hf_dir: Path, save_folder: Path) -> Path:
    """A Composer checkpoint of ``hf_dir``'s causal LM (trained at learning rate 0: same weights)."""
    return lr0_run(hf_dir, save_folder) / "ep0-ba1-rank0.pt"


def sharded_checkpoint(checkpoint: Path, folder: Path) -> Path:
    """The Composer checkpoint file as FSDP's sharded layout (``.metadata`` + ``.distcp``)."""
    import warnings

    import torch.distributed.checkpoint as dcp

    state: dict[str, Any] = torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]
    keep = {k: state[k] for k in ("model", "integrations", "timestamp")}
    with warnings.catch_warnings():  # no process group: saved by one process
        warnings.simplefilter("ignore")
        dcp.save({"state": keep}, checkpoint_id=str(folder))
    return folder
