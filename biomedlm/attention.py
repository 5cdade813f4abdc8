"""Which attention implementation a GPT-2 config runs under, as the config means it.

BioMedLM sets ``scale_attn_by_inverse_layer_idx`` (each layer's attention scores divided by its
index + 1). transformers without huggingface/transformers#44397 applies that factor only in
eager attention; SDPA and FlashAttention drop it silently and compute another model. Whether the
installed transformers drops it is probed once, on a tiny model, not read from its version.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

ATTENTION = ("eager", "sdpa", "flash_attention_2")


def attention_for(config: Any, requested: str | None) -> str | None:
    """``requested`` (None: transformers' default), or ``"eager"`` where ``config`` scales
    attention by inverse layer index and the installed GPT-2 drops that outside eager.
    """
    if requested == "eager" or not getattr(config, "scale_attn_by_inverse_layer_idx", False):
        return requested
    if not drops_layer_scale():
        return requested
    import transformers

    log.warning(
        "attention: eager instead of %s: the config sets scale_attn_by_inverse_layer_idx, which "
        "transformers %s applies only in eager attention (huggingface/transformers#44380)",
        requested or "the default", transformers.__version__,
    )  # fmt: skip
    return "eager"


@functools.cache
def drops_layer_scale() -> bool:
    """Whether the installed GPT-2's SDPA attention ignores ``scale_attn_by_inverse_layer_idx``:
    a 2-layer model's logits, SDPA against eager. FlashAttention takes the same call as SDPA
    (no scale passed before the fix, the layer's after), so the answer stands for it too.

    Asked first while llm-foundry builds a model for ``init_device: meta`` (inside
    ``init_empty_weights``, which puts every parameter registered on meta): so the probe's models
    run on weights of its own, on the CPU, whatever device their parameters were made on.
    """
    import torch
    from torch.func import functional_call
    from transformers import AutoModelForCausalLM, GPT2Config

    config = GPT2Config(
        n_layer=2, n_embd=16, n_head=2, n_positions=8, vocab_size=16,
        scale_attn_by_inverse_layer_idx=True,
    )  # fmt: skip
    ids = torch.arange(8, device="cpu")[None]
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # the caller's seed untouched
        eager, sdpa = (
            AutoModelForCausalLM.from_config(config, attn_implementation=attention).eval()
            for attention in ("eager", "sdpa")
        )
        if any(buffer.is_meta for buffer in (*eager.buffers(), *sdpa.buffers())):
            raise RuntimeError(
                "internal error: the attention probe's buffers (its causal mask) were made on "
                "meta; call biomedlm.attention.drops_layer_scale() before a meta-device context"
            )
        torch.manual_seed(0)
        weights = {name: torch.randn(w.shape, device="cpu") for name, w in eager.named_parameters()}
        eager_logits, sdpa_logits = (
            functional_call(m, weights, (ids,)).logits for m in (eager, sdpa)
        )
        gap = (eager_logits - sdpa_logits).abs().max().item()
    return gap > 1e-3
