"""LoRA on a generation fine-tune trains the separator's embedding row, and exports keep it.

The separator is a token the fine-tune adds: its row starts as the mean embedding. Under LoRA
the base weights are frozen, so without peft's ``trainable_token_indices`` that row never
learns. In process with Composer's Trainer (a few steps of a tiny model): the row moves, every
other embedding row stays the base's, and the merged and adapters exports and the Composer
checkpoint hold the trained row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from biomedlm.generation_layout import SEPARATOR
from tests.fixtures.data import single_token_words
from tests.fixtures.runs import GENERATION_DEBUG


def copy_batches(tokenizer: Any, n_batches: int = 3, size: int = 4) -> list[dict[str, Any]]:
    """``w1 w2 w3 <sep> w1 w2 w3 <eos>`` rows, loss on the target and EOS (the collator's rule)."""
    words = single_token_words(tokenizer, 8)
    sep, eos = tokenizer.convert_tokens_to_ids(SEPARATOR), tokenizer.eos_token_id
    batches = []
    for b in range(n_batches):
        ids, labels = [], []
        for i in range(size):
            text = " ".join(words[(b * size + i + k) % len(words)] for k in range(3))
            source = tokenizer(text)["input_ids"]
            target = [*tokenizer(" " + text)["input_ids"], eos]
            ids.append([*source, sep, *target])
            labels.append([-100] * (len(source) + 1) + target)
        batches.append({
            "input_ids": torch.tensor(ids),
            "attention_mask": torch.ones(len(ids), len(ids[0]), dtype=torch.long),
            "labels": torch.tensor(labels),
        })  # fmt: skip
    return batches


def test_lora_trains_the_separator_row_only_and_both_exports_keep_it(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from llmfoundry.utils.builders import build_composer_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from biomedlm.finetune.export import FinetuneExport
    from biomedlm.finetune.generation.launch import model_section
    from biomedlm.recipe_kinds import load_recipe
    from biomedlm.trained.load import load
    from biomedlm.vocabulary import save_with_tokens
    from tests.fixtures.choice import train

    tokenizer = AutoTokenizer.from_pretrained(
        save_with_tokens(tiny_dir, [SEPARATOR], tmp_path / "t")
    )
    sep = tokenizer.convert_tokens_to_ids(SEPARATOR)
    recipe = load_recipe(
        GENERATION_DEBUG,
        ["model.init_from=x", "model.dropout=0.0", "model.lora={r: 4, alpha: 8, dropout: 0.0}"],
        components=False,
    )
    section = model_section(recipe, tiny_dir, sep)
    model = build_composer_model(section.pop("name"), section, tokenizer)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("trainable_tokens" in n for n in trained)
    assert all("lora_" in n or "trainable_tokens" in n for n in trained), trained
    with torch.no_grad():  # the row as grown (random, as every row past the base's)
        start = model.model.get_input_embeddings()(torch.tensor([sep]))[0].clone()
    data = copy_batches(tokenizer)
    torch.manual_seed(0)
    exports = [
        FinetuneExport(str(tmp_path / "merged"), "1dur", lora_export="merged"),
        FinetuneExport(str(tmp_path / "adapters"), "1dur", lora_export="adapters"),
    ]
    train(model, data, tmp_path, exports)  # the fine-tuning tests' one Composer loop
    original = AutoModelForCausalLM.from_pretrained(tiny_dir).get_input_embeddings().weight.detach()
    step = f"ba{len(data)}"
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged" / "huggingface" / step)
    rebuilt = load(tmp_path / "adapters" / "huggingface" / step).model  # on its base: tiny
    for export in (merged, rebuilt):
        after = export.get_input_embeddings().weight.detach()
        assert after.shape[0] % 64 == 0 and after.shape[0] > sep == len(original)
        assert torch.equal(after[: len(original)], original)  # the base rows stay frozen
        assert not torch.allclose(after[sep], start)  # the separator's row learned
        assert torch.equal(export.get_output_embeddings().weight, after)  # still tied
    torch.testing.assert_close(
        merged.get_input_embeddings().weight[sep], rebuilt.get_input_embeddings().weight[sep]
    )
    # the Composer checkpoint holds the trained row too: it reads back (as the gauntlet and
    # generate read it) to the merged export's weights exactly
    read = load(next((tmp_path / "ckpt").glob(f"ep*-{step}-rank0.pt")))
    checkpoint, progress = read.model, read.progress
    assert progress is not None and progress.batch == len(data)
    ours, theirs = checkpoint.state_dict(), merged.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
