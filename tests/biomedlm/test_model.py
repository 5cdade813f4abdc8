"""The BioMedLM Composer model: vocabulary padding and the flops the speed monitor's MFU uses."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from biomedlm.vocabulary import padded_vocab_size
from tests.fixtures.tokenizers import train_tokenizer


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


def test_configs_and_exports_carry_the_tokenizers_end_of_text(tokenizer, tmp_path) -> None:
    """The architecture's config says BioMedLM's 28895; this tokenizer's EOS is 0: a plain
    ``generate`` on an export must stop there."""
    from composer import Trainer
    from composer.optim import DecoupledAdamW
    from llmfoundry.callbacks.hf_checkpointer import HuggingFaceCheckpointer
    from transformers import AutoModelForCausalLM

    from biomedlm.finetune.export import FinetuneExport
    from tests.fixtures.models import tiny_model

    eos = tokenizer.eos_token_id
    assert eos == 0
    stale = tiny_model(tmp_path / "stale", tokenizer.name_or_path, bos_token_id=28895, eos_token_id=28895)  # fmt: skip
    for model in (
        build(tokenizer, n_layers=1, d_model=32, n_heads=2, max_seq_len=16),
        build(tokenizer, init_from=str(stale)),
    ):
        for config in (model.model.config, model.model.generation_config):
            assert (config.bos_token_id, config.eos_token_id) == (eos, eos)
    wrong = AutoModelForCausalLM.from_pretrained(stale)  # an export's own guard, whatever built it
    FinetuneExport(str(tmp_path / "x")).transform_model_and_tokenizer(wrong, tokenizer)
    assert (wrong.config.eos_token_id, wrong.generation_config.eos_token_id) == (eos, eos)

    batch = {"input_ids": torch.randint(1, len(tokenizer), (2, 16))}
    batch["labels"] = batch["input_ids"]
    Trainer(
        model=model,
        train_dataloader=[batch],
        optimizers=DecoupledAdamW(model.parameters(), lr=0.0),
        max_duration="1ba",
        device_train_microbatch_size=2,
        callbacks=[HuggingFaceCheckpointer(str(tmp_path / "hf"), "1dur")],  # as the recipes
        device="cpu",
        progress_bar=False,
    ).fit()
    export = AutoModelForCausalLM.from_pretrained(tmp_path / "hf" / "huggingface" / "ba1").eval()
    assert (export.config.eos_token_id, export.generation_config.eos_token_id) == (eos, eos)
    with torch.no_grad():  # EOS made the likeliest next token after any text
        export.transformer.ln_f.weight.zero_()
        export.transformer.ln_f.bias.fill_(1.0)
        export.lm_head.weight[eos] = 1.0
    prompt = batch["input_ids"][:1, :4]
    out = export.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8)
    assert out[0, 4:].tolist() == [eos]  # stopped at end of text, not 8 tokens on
