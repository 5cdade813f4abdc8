"""Which attention implementation a GPT-2 config runs under, as the config means it.

BioMedLM sets ``scale_attn_by_inverse_layer_idx`` (each layer's attention scores divided by its
index + 1). transformers without huggingface/transformers#44397 applies that factor only in
eager attention; SDPA and FlashAttention drop it silently and compute another model. Whether the
installed transformers drops it is probed once, on a tiny model, not read from its version; where
it does, the model runs :func:`scaled_sdpa`, PyTorch's SDPA given the layer's scale. Not eager:
eager's causal mask is a buffer of ``n_positions`` keys, which a padded question plus its
options (the choice family's shared layout) can pass, and eager is slower on GPUs.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

ATTENTION = ("eager", "sdpa", "flash_attention_2")
SCALED_SDPA = "sdpa_layer_scaled"  # the name :func:`scaled_sdpa` is registered under


def attention_for(config: Any, requested: str | None) -> str | None:
    """``requested`` (None: transformers' default), or :data:`SCALED_SDPA` where ``config``
    scales attention by inverse layer index and the installed GPT-2 drops that outside eager.
    """
    if requested == "eager" or not getattr(config, "scale_attn_by_inverse_layer_idx", False):
        return requested
    if not drops_layer_scale():
        return requested
    from transformers import AttentionInterface

    AttentionInterface.register(SCALED_SDPA, scaled_sdpa)
    _say_why(requested)
    return SCALED_SDPA


@functools.cache
def _say_why(requested: str | None) -> None:
    """Once a process for each attention replaced: the watcher loads a model per checkpoint."""
    import transformers

    log.info(
        "attention: SDPA with each layer's scale instead of %s: the config sets "
        "scale_attn_by_inverse_layer_idx, which transformers %s drops outside eager attention "
        "(huggingface/transformers#44380)",
        requested or "the default", transformers.__version__,
    )  # fmt: skip


def scaled_sdpa(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    **_: Any,
) -> tuple[Any, None]:
    """GPT-2's eager attention (``scale_attn_weights``, ``scale_attn_by_inverse_layer_idx``, causal
    within the cache's offset, the padding mask) computed by ``scaled_dot_product_attention``.

    GPT-2 hands a registered function no causal mask, only its padding one
    (``[batch, 1, 1, keys]``, additive), so the causal part is made here.
    """
    import torch
    import torch.nn.functional as F

    scale = query.shape[-1] ** -0.5 if module.scale_attn_weights else 1.0
    if module.scale_attn_by_inverse_layer_idx:
        scale /= module.layer_idx + 1
    n_query, n_key = query.shape[-2], key.shape[-2]
    mask = None
    if attention_mask is not None or n_query > 1:
        keep = torch.ones(n_query, n_key, dtype=torch.bool, device=query.device)
        keep = keep.tril(n_key - n_query)  # a query sees the cache and itself, not later tokens
        if attention_mask is not None:
            keep = keep & (attention_mask[..., :n_key] == 0)
        mask = torch.zeros(keep.shape, dtype=query.dtype, device=query.device)
        mask = mask.masked_fill(~keep, torch.finfo(query.dtype).min)
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, dropout_p=dropout, scale=scale
    )
    return out.transpose(1, 2).contiguous(), None


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
