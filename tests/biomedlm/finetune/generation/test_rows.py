"""The rows llm-foundry trains on: loss on the target and one EOS only; over-long rows fitted."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from biomedlm.finetune.generation.launch import _loader
from biomedlm.finetune.generation.readers import Example, read_examples
from biomedlm.finetune.generation.rows import fit, write_rows
from biomedlm.generation_layout import SEPARATOR
from biomedlm.recipe_kinds import load_recipe
from tests.fixtures.paths import REPO
from tests.fixtures.runs import GENERATION_DEBUG


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of one part file (the library's reader, which only these tests used)."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


IGNORE = -100


@pytest.fixture(scope="module")
def tokenizer(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from transformers import AutoTokenizer

    from biomedlm.vocabulary import save_with_tokens

    out = save_with_tokens(tiny_dir, [SEPARATOR], tmp_path_factory.mktemp("tok") / "tokenizer")
    return AutoTokenizer.from_pretrained(out)


def foundry_batches(path: Path, tokenizer: Any, max_length: int) -> list[dict[str, Any]]:
    """llm-foundry's finetuning loader over ``path``, as the launch configures it (in order)."""
    from llmfoundry.data.finetuning import build_finetuning_dataloader

    recipe = load_recipe(GENERATION_DEBUG, [f"data.max_length={max_length}"], components=False)
    cfg = _loader(path, "train", recipe, on_gpu=False, train=False)
    cfg.pop("name")
    spec = build_finetuning_dataloader(tokenizer=tokenizer, device_batch_size=4, **cfg)
    return list(spec.dataloader)


def test_only_the_target_and_one_eos_carry_loss_on_real_rows(
    tokenizer: Any, tmp_path: Path
) -> None:
    examples, _ = read_examples("medquad", [str(REPO / "data/finetune/medquad/9_CDC_QA")], "x")
    examples = examples[:24]
    files = write_rows({"train": examples}, tmp_path, tokenizer, 512, SEPARATOR, {})
    rows = read_rows(files["train"])
    sep, eos = tokenizer.convert_tokens_to_ids(SEPARATOR), tokenizer.eos_token_id
    seen = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the collator truncating would warn
        batches = foundry_batches(files["train"], tokenizer, 512)
    for batch in batches:
        for ids, labels, mask in zip(
            batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True
        ):
            row = rows[seen]
            seen += 1
            prompt = tokenizer(row["prompt"])["input_ids"]
            target = tokenizer(row["response"])["input_ids"]
            real = ids[mask.bool()].tolist()
            assert real == prompt + target + [eos]  # source, separator, target, one EOS
            assert prompt[-1] == sep and real.count(eos) == 1 and real.count(sep) == 1
            carried = labels[mask.bool()].tolist()
            assert carried[: len(prompt)] == [IGNORE] * len(prompt)
            assert carried[len(prompt) :] == [*target, eos]
            assert (labels[~mask.bool()] == IGNORE).all()  # padding carries none
    assert seen == len(rows) >= 12  # the rest: answers too long for 512 tokens, skipped


def test_an_over_long_source_loses_its_start_and_keeps_its_whole_target(
    tokenizer: Any, tmp_path: Path
) -> None:
    words = " ".join(f"word{i}" for i in range(300))
    long_source = Example("a", f"{words} What is the treatment for X ?", "Rest and fluids.")
    long_target = Example("b", "What is X ?", " ".join(["X is a long answer."] * 80))
    fine = Example("c", "What is Y ?", "Y is short.")
    # a target that fits, leaving 9 tokens of source: under a quarter of 64, an answer to no question
    little_left = Example("d", long_source.source, " ".join(["Z is an answer."] * 6))
    kept, how = fit(long_source, tokenizer, 64, SEPARATOR)
    assert how == "source_cut" and kept is not None
    assert kept.endswith("What is the treatment for X ?") and not kept.startswith("word0 ")
    assert fit(long_target, tokenizer, 64, SEPARATOR) == (None, "target_too_long")
    assert fit(fine, tokenizer, 64, SEPARATOR) == ("What is Y ?", "fits")
    assert fit(little_left, tokenizer, 64, SEPARATOR) == (None, "source_too_short")

    files = write_rows({"train": [long_source, long_target, fine, little_left]}, tmp_path,
                       tokenizer, 64, SEPARATOR, {})  # fmt: skip
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["fitting"]["train"] == {
        "fits": 1, "source_cut": 1, "target_too_long": 1, "source_too_short": 1}  # fmt: skip
    (batch,) = foundry_batches(files["train"], tokenizer, 64)
    assert batch["input_ids"].shape == (2, 64)
    labels = [[t for t in row.tolist() if t != IGNORE] for row in batch["labels"]]
    eos = tokenizer.eos_token_id
    assert tokenizer.decode(labels[0][:-1]) == "Rest and fluids." and labels[0][-1] == eos
    assert len(batch["attention_mask"][0].nonzero()) <= 64


def test_without_fitting_llm_foundry_drops_a_row_whose_source_fills_max_length(
    tokenizer: Any, tmp_path: Path
) -> None:
    """Why rows are fitted first: llm-foundry alone drops the example (and cuts targets' ends)."""
    import json

    path = tmp_path / "raw.jsonl"
    long_prompt = " ".join(f"word{i}" for i in range(300)) + SEPARATOR
    path.write_text(
        json.dumps({"prompt": long_prompt, "response": "Rest."}) + "\n"
        + json.dumps({"prompt": "Q ?" + SEPARATOR, "response": "A."}) + "\n"
    )  # fmt: skip
    with pytest.warns(UserWarning, match="Dropped 1 examples where the prompt was longer than 64"):
        (batch,) = foundry_batches(path, tokenizer, 64)
    assert batch["input_ids"].shape[0] == 1


def test_test_rows_are_not_fitted(tokenizer: Any, tmp_path: Path) -> None:
    long_target = Example("b", "What is X ?", " ".join(["X is a long answer."] * 80))
    files = write_rows({"train": [Example("c", "Q ?", "A.")], "test": [long_target]}, tmp_path,
                       tokenizer, 64, SEPARATOR, {})  # fmt: skip
    (row,) = read_rows(files["test"])
    assert row["response"] == long_target.target and row["prompt"] == "What is X ?" + SEPARATOR
    assert Counter(r["id"] for r in read_rows(files["train"])) == {"c": 1}
