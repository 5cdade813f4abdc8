"""The BioMedLM Composer model: vocabulary padding and the flops the speed monitor's MFU uses."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from biomedlm.model import padded_vocab_size
from tests.eval_gauntlet.tiny import train_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(train_tokenizer(tmp_path_factory.mktemp("tok")))


def build(tokenizer, **sizes):
    from llmfoundry.utils.builders import build_composer_model

    return build_composer_model("biomedlm", sizes, tokenizer)


def test_vocab_is_the_tokenizers_padded_to_64(tokenizer) -> None:
    model = build(tokenizer, n_layers=1, d_model=32, n_heads=2, max_seq_len=16)
    rows = model.model.get_input_embeddings().num_embeddings
    assert rows == padded_vocab_size(len(tokenizer)) and rows % 64 == 0 and rows >= len(tokenizer)
    assert padded_vocab_size(28_896) == 28_928 and padded_vocab_size(64) == 64


def test_flops_per_batch_matches_counted_matmuls_of_a_training_step(tokenizer) -> None:
    # eager attention: its two seq x seq products are matmuls the counter sees (SDPA's CPU
    # kernel is not counted)
    model = build(
        tokenizer, n_layers=2, d_model=128, n_heads=4, max_seq_len=256, attn_implementation="eager"
    )
    batch = {"input_ids": torch.randint(0, len(tokenizer), (2, 256))}
    batch["labels"] = batch["input_ids"]
    with FlopCounterMode(display=False) as counter:
        model.loss(model(batch), batch).backward()
    counted = counter.get_total_flops()  # matmuls and attention, forward and backward
    assert model.flops_per_batch(batch) == pytest.approx(counted, rel=0.02)
