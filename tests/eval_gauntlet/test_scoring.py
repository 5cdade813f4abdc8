"""Scoring on the tiny model equals a hand computation with the model's forward pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eval_gauntlet.errors import GauntletError
from eval_gauntlet.options import CALLBACK_NAMING, Options
from eval_gauntlet.prompts import FORMATS, Prompt, build_prompts, render
from eval_gauntlet.scoring import (
    choose,
    context_length,
    load_hf_model,
    loglikelihoods,
    score_prompts,
)
from medtasks.formats import load_items
from tests.fixtures.models import tiny_model
from tests.fixtures.paths import DATA


def by_hand(
    model, tokenizer, context: str, continuation: str, max_length: int
) -> tuple[float, int]:
    """Sum of log-probabilities of the continuation's tokens, one unbatched forward pass."""
    context_ids = tokenizer(context)["input_ids"]
    whole = tokenizer(context + continuation)["input_ids"]
    target = whole[len(context_ids) :]
    dropped = max(0, len(whole) - (max_length + 1))
    window = whole[dropped:]
    with torch.no_grad():
        logits = model(torch.tensor([window[:-1]])).logits[0]
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    first = len(window) - 1 - len(target)  # logits at position i predict token i + 1
    total = sum(logprobs[first + j, token].item() for j, token in enumerate(target))
    return total, dropped


def some_prompts() -> list[Prompt]:
    medqa = load_items(DATA / "medqa_usmle_4opt_test.jsonl")[:3]
    pubmedqa = load_items(DATA / "pubmedqa_labeled_test.jsonl")[:3]
    train = load_items(DATA / "pubmedqa_labeled_train.jsonl")
    mmlu = load_items(DATA / "mmlu_medical_test.jsonl", "medical_genetics")
    return [
        *(render(FORMATS["medqa_4options"], item) for item in medqa),
        *build_prompts("pubmedqa", "pubmedqa", pubmedqa, train, 1, seed=3),
        *build_prompts("mmlu", "mmlu", mmlu[:3], mmlu, 2, seed=3),
    ]


def test_scores_equal_hand_computation(tiny) -> None:
    model, tokenizer = tiny
    prompts = some_prompts()
    assert len(tokenizer(" maybe")["input_ids"]) > 1  # a multi-token choice is covered
    predictions = score_prompts(model, tokenizer, prompts, max_length=1024, progress=False)
    for prompt, prediction in zip(prompts, predictions, strict=True):
        hand = [by_hand(model, tokenizer, prompt.context, c, 1024) for c in prompt.continuations]
        expected = [score for score, _ in hand]
        assert prediction.logprobs == pytest.approx(expected, abs=1e-4)
        assert prediction.pred == max(range(len(expected)), key=expected.__getitem__)
        lengths = [len(choice) for choice in prompt.choices]
        per_char = [ll / n for ll, n in zip(expected, lengths, strict=True)]
        assert prediction.pred_norm == max(range(len(per_char)), key=per_char.__getitem__)
        assert prediction.gold == prompt.gold
        assert prediction.truncated == max(dropped for _, dropped in hand)
    assert any(p.truncated for p in predictions) and not all(p.truncated for p in predictions)


class SoftCapped(torch.nn.Module):
    """A model whose logits are not ``head(body(x))``: a soft cap after the output layer."""

    def __init__(self, inner) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config

    @property
    def base_model(self):
        return self.inner.base_model

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()

    def forward(self, input_ids, **kwargs):
        out = self.inner(input_ids=input_ids, **kwargs)
        out.logits = 3.0 * torch.tanh(out.logits / 3.0)
        return out


def test_a_model_with_a_different_output_falls_back_to_whole_logits(tiny) -> None:
    model, tokenizer = tiny
    capped = SoftCapped(model)
    prompts = some_prompts()[:4]
    pairs = [(p.context, cont) for p in prompts for cont in p.continuations]
    scores, _ = loglikelihoods(capped, tokenizer, pairs, max_length=1024, progress=False)
    expected = [by_hand(capped, tokenizer, ctx, cont, 1024)[0] for ctx, cont in pairs]
    assert scores == pytest.approx(expected, abs=1e-4)
    uncapped, _ = loglikelihoods(model, tokenizer, pairs, max_length=1024, progress=False)
    assert scores != pytest.approx(uncapped, abs=1e-2)  # the cap matters: the check is real


def test_a_bf16_model_keeps_the_fast_path(tiny_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Rounding between the two paths is not mistaken for a different output layer."""
    model, tokenizer = load_hf_model(tiny_dir)
    model = model.to(torch.bfloat16)
    pairs = [(p.context, c) for p in some_prompts() for c in p.continuations]
    with caplog.at_level("INFO", logger="eval_gauntlet.scoring"):
        scores, _ = loglikelihoods(model, tokenizer, pairs, max_length=1024, progress=False)
    assert "scoring whole outputs" not in caplog.text
    expected = [by_hand(model, tokenizer, ctx, cont, 1024)[0] for ctx, cont in pairs]
    assert scores == pytest.approx(expected, rel=0.05, abs=0.1)


def test_truncation_from_the_left_is_counted(tokenizer_dir: Path, tmp_path: Path) -> None:
    model, tokenizer = load_hf_model(tiny_model(tmp_path, tokenizer_dir, n_positions=48))
    assert context_length(model, tokenizer) == 48
    prompts = some_prompts()[:4]
    pairs = [(p.context, cont) for p in prompts for cont in p.continuations]
    scores, truncated = loglikelihoods(model, tokenizer, pairs, max_length=48, progress=False)
    for (context, cont), score, dropped in zip(pairs, scores, truncated, strict=True):
        expected, expected_dropped = by_hand(model, tokenizer, context, cont, 48)
        assert dropped == expected_dropped > 0
        assert score == pytest.approx(expected, abs=1e-4)


def test_batching_and_input_sharing_do_not_change_scores(tiny) -> None:
    model, tokenizer = tiny
    prompts = some_prompts()
    pairs = [(p.context, cont) for p in prompts for cont in p.continuations]
    batched, _ = loglikelihoods(
        model, tokenizer, pairs, max_length=1024, batch_size=16, progress=False
    )
    one_by_one = [
        loglikelihoods(model, tokenizer, [pair], max_length=1024, batch_size=1, progress=False)[0][
            0
        ]
        for pair in pairs
    ]
    assert batched == pytest.approx(one_by_one, abs=1e-4)


def test_context_whitespace_moves_to_the_continuation(tiny) -> None:
    model, tokenizer = tiny
    (with_space, plain), _ = loglikelihoods(
        model, tokenizer, [("Answer: ", "A"), ("Answer:", " A")], max_length=1024, progress=False
    )
    assert with_space == plain


def test_choose_is_lm_evals_acc_and_acc_norm() -> None:
    assert choose([-3.0, -4.0], ["a", "bbbb"]) == (0, 1)  # -3/1 < -4/4
    assert choose([-3.0, -2.5, -4.0], ["yes", "no", "maybe"]) == (1, 2)  # per char: -1, -1.25, -0.8
    assert choose([-6.0, -6.0], ["ab", "cd"]) == (0, 0)  # ties go to the first, as np.argmax


def test_tokenizer_not_matching_the_model_is_one_clear_error(
    tokenizer_dir: Path, tmp_path: Path
) -> None:
    folder = tiny_model(tmp_path, tokenizer_dir, vocab_size=300)
    with pytest.raises(
        GauntletError, match=r"tokenizer has 1000 tokens but the model's embedding has 300 rows"
    ):
        load_hf_model(folder)


def test_not_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(GauntletError, match=r"not a Hugging Face model directory"):
        load_hf_model(tmp_path)
    (tmp_path / "config.json").write_text("{}")  # no weights: one line naming the folder
    with pytest.raises(GauntletError, match=r"^" + str(tmp_path) + r": an incomplete model folder"):
        load_hf_model(tmp_path)


# --- log-softmax precision and context length, as lm-eval ------------------------------------


def bf16_by_hand(model, tokenizer, context: str, continuation: str) -> float:
    """lm-eval's default on a bf16 model: log-softmax and the sum in bf16."""
    context_ids = tokenizer(context)["input_ids"]
    whole = tokenizer(context + continuation)["input_ids"]
    target = torch.tensor(whole[len(context_ids) :])
    with torch.no_grad():
        logits = model(torch.tensor([whole[:-1]])).logits[0]
    logprobs = torch.nn.functional.log_softmax(logits, dim=-1)  # dtype None: the model's
    picked = logprobs[-len(target) :].gather(-1, target[:, None])
    return float(picked.sum())


def test_softmax_in_the_model_dtype_on_a_bf16_model(close_bf16_dir: Path) -> None:
    """``model``: every log-probability rounded to bf16, as lm-eval's default; it changes picks."""
    model, tokenizer = load_hf_model(close_bf16_dir)
    assert model.dtype == torch.bfloat16
    items = load_items(DATA / "medqa_usmle_4opt_test.jsonl")[:200]
    prompts = [render(FORMATS["medqa_4options"], item) for item in items]
    kwargs = {"max_length": 1024, "progress": False, "batch_size": 16}
    in_model = score_prompts(model, tokenizer, prompts, softmax_dtype="model", **kwargs)
    in_fp32 = score_prompts(model, tokenizer, prompts, softmax_dtype="float32", **kwargs)
    for prompt, mine in list(zip(prompts, in_model, strict=True))[:10]:
        hand = [bf16_by_hand(model, tokenizer, prompt.context, c) for c in prompt.continuations]
        assert mine.logprobs == hand  # bit-equal
        assert all(float(torch.tensor(ll).bfloat16()) == ll for ll in mine.logprobs)
    changed = sum(a.pred != b.pred for a, b in zip(in_model, in_fp32, strict=True))
    assert 0 < changed < len(prompts) / 4, changed  # it matters on close calls, not elsewhere
    with pytest.raises(  # checked once, with the options, before a model is scored
        GauntletError, match=r"softmax_dtype: 'bf16'; expected one of float32, model"
    ):
        Options(softmax_dtype="bf16").check(CALLBACK_NAMING)


class _Config:
    def __init__(self, **attrs: object) -> None:
        self.__dict__.update(attrs)


@pytest.mark.parametrize(
    ("config", "tokenizer_max"),
    [
        (_Config(n_positions=1024, max_seq_len=256), None),
        (_Config(max_seq_len=256), None),  # llm-foundry's MPT: lm-eval does not read max_seq_len
        (_Config(max_seq_len=256), 512),
        (_Config(max_position_embeddings=4096), 512),
        (_Config(text_config=_Config(n_ctx=300), n_positions=1200), None),
        (_Config(), 1_000_000_000_000_000_019_884_624_838_656),  # "unset": lm-eval's 2048
    ],
)
def test_context_length_is_resolved_as_lm_eval_does(
    config: _Config, tokenizer_max: int | None
) -> None:
    from lm_eval.models.utils import resolve_max_length

    model, tokenizer = _Config(config=config), _Config(model_max_length=tokenizer_max)
    assert context_length(model, tokenizer) == resolve_max_length(config, tokenizer)
