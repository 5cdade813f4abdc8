"""The choice model learns, scores each (question, option) pair exactly, whatever the padding.

Learnability: a tiny random GPT-2 reaches >= 95% test accuracy on a synthetic multiple-choice
set whose gold option is recognisable, and on a synthetic classification set, in seconds:
labels, the head on the last non-pad token and the loss line up. The question read once for
all its options gives the scores and gradients of each pair read whole (the paper's layout),
and left padding gives right padding's scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from biomedlm.finetune.choice.data import Collator, build_choice_dataloader
from biomedlm.finetune.choice.layout import LAYOUT_TOKENS, encode
from biomedlm.finetune.choice.model import ChoiceModel
from biomedlm.finetune.choice.readers import Source, read_file
from tests.fixtures.choice import build_model, tokenizer_for
from tests.fixtures.data import synthetic_choice, synthetic_classification

pytestmark = pytest.mark.usefixtures("one_thread")


def data_section(fmt: str, train: Path, test: Path) -> dict[str, Any]:
    return {"format": fmt, "train": [str(train)], "test": [str(test)], "max_length": 128}


def fit_and_score(task: str, fmt: str, train: Path, test: Path, tiny_dir: Path, tmp: Path) -> float:
    from composer import Trainer
    from composer.optim import DecoupledAdamW

    tokenizer = tokenizer_for(task, tiny_dir, tmp)
    model = build_model(task, tiny_dir, tokenizer)
    section = data_section(fmt, train, test)

    def loader(part: str) -> Any:
        return build_choice_dataloader(
            tokenizer, 16, recipe_data=section, task=task, part=part, shuffle=part == "train"
        )

    Trainer(
        model=model,
        train_dataloader=loader("train"),
        optimizers=DecoupledAdamW(model.parameters(), lr=4e-3, weight_decay=0.0),
        max_duration="5ep",
        device="cpu",
        progress_bar=False,
        seed=0,
    ).fit()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in loader("test").dataloader:
            correct += int((model(batch).argmax(-1) == batch["labels"]).sum())
            total += len(batch["labels"])
    print(f"{task}: test accuracy {correct / total:.3f}")
    return correct / total


def test_multiple_choice_learns_the_recognisable_option(tiny_dir: Path, tmp_path: Path) -> None:
    train = synthetic_choice(tmp_path / "train.jsonl", 320, seed=1)
    test = synthetic_choice(tmp_path / "test.jsonl", 200, seed=2)
    assert fit_and_score("multiple_choice", "medqa", train, test, tiny_dir, tmp_path) >= 0.95


def test_classification_learns_the_label_from_the_context(tiny_dir: Path, tmp_path: Path) -> None:
    train = synthetic_classification(tmp_path / "train.tsv", 320, seed=1)
    test = synthetic_classification(tmp_path / "test.tsv", 200, seed=2)
    assert fit_and_score("classification", "bioasq", train, test, tiny_dir, tmp_path) >= 0.95


def pair_scores(model: ChoiceModel, encoded: list[Any]) -> torch.Tensor:
    """The reference: each (question, option) pair alone, unpadded, through the HF model."""
    rows = []
    for item in encoded:
        pairs = [torch.tensor([item.prompt + option]) for option in item.options]
        rows.append([float(model.model(input_ids=ids).logits[0, 0]) for ids in pairs])
    return torch.tensor(rows)


LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["c_attn", "c_proj", "c_fc"]}


@pytest.mark.parametrize("task", ["multiple_choice", "classification"])
def test_lora_of_a_choice_model_is_the_one_peft_config_with_its_head(
    task: str, tiny_dir: Path, tmp_path: Path
) -> None:
    """peft's config of the built model: as when the choice model built its own dict."""
    from biomedlm.finetune.recipe import LoraConfig, peft_config

    tokenizer = tokenizer_for(task, tiny_dir, tmp_path)
    rows = [tokenizer.convert_tokens_to_ids(t) for t in LAYOUT_TOKENS[task]]
    assert peft_config(LoraConfig(**LORA), rows, task_type="SEQ_CLS")["task_type"] == "SEQ_CLS"
    config = build_model(task, tiny_dir, tokenizer, lora=LORA).model.peft_config["default"]
    assert (config.peft_type, config.task_type, config.r, config.lora_alpha) == (
        "LORA", "SEQ_CLS", 4, 8,
    )  # fmt: skip
    assert config.lora_dropout == 0.0 and config.fan_in_fan_out is True  # GPT-2's Conv1D
    assert config.target_modules == {"c_attn", "c_proj", "c_fc"}
    assert config.trainable_token_indices == rows and len(rows) == (
        1 if task == "multiple_choice" else 3
    )
    assert config.modules_to_save == ["classifier", "score"]  # the head trains
    assert (config.bias, config.use_rslora, config.use_dora) == ("none", False, False)


@pytest.fixture(params=[None, LORA], ids=["full", "lora"])
def choice_setup(
    tiny_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[ChoiceModel, Any, list[Any]]:
    tokenizer = tokenizer_for("multiple_choice", tiny_dir, tmp_path)
    model = build_model("multiple_choice", tiny_dir, tokenizer, lora=request.param).eval()
    if request.param:  # adapters that do something (LoRA starts as the identity)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    path = synthetic_choice(tmp_path / "q.jsonl", 5, seed=3)
    examples = read_file(Source(path, "medqa"), "test")
    return model, tokenizer, encode("multiple_choice", examples, tokenizer, 128)


def test_question_read_once_scores_each_pair_exactly_with_any_padding(
    choice_setup: tuple[ChoiceModel, Any, list[Any]],
) -> None:
    model, tokenizer, encoded = choice_setup
    reference = pair_scores(model, encoded)
    with torch.no_grad():
        for share in (True, False):
            for side in ("right", "left"):
                batch = Collator(tokenizer.pad_token_id, share, side)(encoded)
                torch.testing.assert_close(model(batch), reference, atol=1e-5, rtol=1e-5)


def test_question_read_once_gives_the_pairs_gradients(
    choice_setup: tuple[ChoiceModel, Any, list[Any]],
) -> None:
    model, tokenizer, encoded = choice_setup
    grads = []
    for share in (True, False):
        model.zero_grad()
        batch = Collator(tokenizer.pad_token_id, share)(encoded)
        model.loss(model(batch), batch).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-5, rtol=1e-4)


def test_questions_with_fewer_options_mask_the_missing_ones(tiny_dir: Path, tmp_path: Path) -> None:
    tokenizer = tokenizer_for("multiple_choice", tiny_dir, tmp_path)
    model = build_model("multiple_choice", tiny_dir, tokenizer).eval()
    examples = [
        *read_file(Source(synthetic_choice(tmp_path / "a.jsonl", 2, 4, options=4), "medqa"), "t"),
        *read_file(Source(synthetic_choice(tmp_path / "b.jsonl", 2, 5, options=2), "medqa"), "t"),
    ]
    encoded = encode("multiple_choice", examples, tokenizer, 128)
    with torch.no_grad():
        for share in (True, False):
            scores = model(Collator(tokenizer.pad_token_id, share)(encoded))
            assert scores.shape == (4, 4) and torch.isfinite(scores[:, :2]).all()
            assert (scores[2:, 2:] == torch.finfo(scores.dtype).min).all()
            torch.testing.assert_close(
                scores[2:, :2], pair_scores(model, encoded[2:]), atol=1e-5, rtol=1e-5
            )


def test_classification_scores_the_last_real_token_whatever_the_padding(
    tiny_dir: Path, tmp_path: Path
) -> None:
    tokenizer = tokenizer_for("classification", tiny_dir, tmp_path)
    model = build_model("classification", tiny_dir, tokenizer).eval()
    path = synthetic_classification(tmp_path / "c.tsv", 6, seed=3)
    encoded = encode("classification", read_file(Source(path, "bioasq"), "test"), tokenizer, 64)
    with torch.no_grad():
        alone = torch.cat([model.model(input_ids=torch.tensor([e.prompt])).logits for e in encoded])
        for side in ("right", "left"):
            batch = Collator(tokenizer.pad_token_id, padding_side=side)(encoded)
            torch.testing.assert_close(model(batch), alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("max_length", [96, 1024])
def test_the_script_layout_gives_run_seqcls_gpts_token_ids_on_pubmedqa(
    tiny_dir: Path, tmp_path: Path, max_length: int
) -> None:
    """``data.layout: script``: the ids the released BioMedLM ``run_seqcls_gpt.py`` feeds its model.

    Its data are ``preprocess_blurb_seqcls.py``'s (``sentence1`` the question, ``sentence2`` the
    contexts joined by spaces, both stripped); it calls ``tokenizer(contexts, questions,
    padding="max_length", max_length=..., truncation=True)`` and scores the last real token.
    """
    import json

    from tests.fixtures.paths import REPO

    tokenizer = tokenizer_for("classification", tiny_dir, tmp_path)
    path = REPO / "data" / "finetune" / "pubmedqa" / "ori_pqal.json"
    examples = read_file(Source(path, "pubmedqa"), "test")[:8]
    raw = json.loads(path.read_text())
    rows = [raw[e.key] for e in examples]
    contexts = [" ".join(c.strip() for c in row["CONTEXTS"] if c.strip()) for row in rows]
    questions = [row["QUESTION"].strip() for row in rows]
    script = tokenizer(
        contexts, questions, padding="max_length", max_length=max_length, truncation=True
    )
    expected = [
        [i for i, m in zip(ids, mask, strict=True) if m]
        for ids, mask in zip(script["input_ids"], script["attention_mask"], strict=True)
    ]
    ours = encode("classification", examples, tokenizer, max_length, layout="script")
    assert [list(e.prompt) for e in ours] == expected
    assert [e.label for e in ours] == [
        ("yes", "no", "maybe").index(row["final_decision"]) for row in rows
    ]
    whole = [len(ids) for ids in tokenizer(contexts, questions)["input_ids"]]
    cut = [e.truncated for e in ours]
    if max_length == 96:
        assert all(cut) and all(len(e.prompt) == 96 for e in ours)
    else:
        assert not all(cut) and cut == [max(0, n - 1024) for n in whole]
    markers = encode("classification", examples, tokenizer, max_length)  # the default
    assert all(m.prompt != e.prompt for m, e in zip(markers, ours, strict=True))
