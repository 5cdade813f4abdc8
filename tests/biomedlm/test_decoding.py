"""What the scripts' length penalty means under the pinned transformers (biomedlm/decoding.py):
a beam's score is its summed log-probabilities over the answer's length alone to the penalty,
not over the prompt's plus the answer's as under the scripts' transformers 4.24."""

from __future__ import annotations

import torch

from biomedlm.decoding import DecodingConfig, decoding_kwargs


def test_the_beam_length_penalty_counts_the_answer_not_the_prompt() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config).eval()
    decoding = DecodingConfig(max_new_tokens=6, no_repeat_ngram_size=0, min_length=0)
    assert decoding.length_penalty == -0.5  # the scripts' flag
    prompt = torch.randint(1, 63, (1, 20))
    out = model.generate(
        prompt, attention_mask=torch.ones_like(prompt), pad_token_id=0, eos_token_id=63,
        return_dict_in_generate=True, output_scores=True, **decoding_kwargs(decoding),
    )  # fmt: skip
    steps = model.compute_transition_scores(
        out.sequences, out.scores, out.beam_indices, normalize_logits=False
    )[0]
    summed, answer = steps.sum(), int((steps < 0).sum())
    assert answer == out.sequences.shape[1] - prompt.shape[1]
    assert torch.isclose(out.sequences_scores[0], summed / answer**-0.5, atol=1e-4)
    with_prompt = summed / (prompt.shape[1] + answer) ** -0.5  # transformers 4.24's rule
    assert not torch.isclose(out.sequences_scores[0], with_prompt, atol=1e-2)
