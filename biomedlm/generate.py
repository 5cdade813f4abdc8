"""Sample text from a Composer checkpoint or a Hugging Face model directory.

Usage::

    python -m biomedlm.generate runs/debug-cpu/checkpoints/ep0-ba60-rank0.pt "Aspirin inhibits"
    python -m biomedlm.generate runs/debug-cpu/hf/huggingface/ba60 "Aspirin inhibits" --max-new-tokens 40
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any


def load(path: Path) -> tuple[Any, Any]:
    """(model, tokenizer) from an HF directory, or from a Composer checkpoint's saved HF state."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{path}: not a Hugging Face model directory (no config.json)")
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
        return model, AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint or directory")
    return _from_composer_checkpoint(path)


def _from_composer_checkpoint(path: Path) -> tuple[Any, Any]:
    """The HF model and tokenizer that Composer saved in a checkpoint, with its trained weights.

    Composer 0.32's ``hf_from_composer_checkpoint`` returned a model whose weights differ from
    the checkpoint's here, so the weights are loaded explicitly (and checked: nothing unexpected).
    """
    import torch
    from composer.models import HuggingFaceModel
    from transformers import AutoConfig, AutoModelForCausalLM

    state = torch.load(path, map_location="cpu", weights_only=False)["state"]
    hf_state = state["integrations"]["huggingface"]
    content = dict(hf_state["model"]["config"]["content"])
    config = AutoConfig.for_model(content.pop("model_type"), **content)
    model = AutoModelForCausalLM.from_config(config)
    weights = {
        k.removeprefix("model."): v for k, v in state["model"].items() if k.startswith("model.")
    }
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not k.endswith(("attn.bias", "lm_head.weight")) for k in missing):
        raise ValueError(
            f"{path}: checkpoint does not fit its saved config ({(missing + unexpected)[:3]})"
        )
    if config.tie_word_embeddings:
        model.tie_weights()
    with tempfile.TemporaryDirectory() as scratch:  # else Composer leaves a folder in the cwd
        tokenizer = HuggingFaceModel.load_huggingface_tokenizer_from_saved_state(
            hf_state, tokenizer_save_dir=scratch
        )
    return model, tokenizer


def generate(
    path: Path, prompt: str, max_new_tokens: int = 32, temperature: float = 0.8, seed: int = 0
) -> str:
    """``prompt`` continued by the model (sampled, seeded)."""
    import torch

    model, tokenizer = load(path)
    model.eval()
    torch.manual_seed(seed)
    encoded = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature or None,
            pad_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.decode(out[0], skip_special_tokens=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m biomedlm.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "path", type=Path, help="Composer checkpoint (.pt) or Hugging Face directory"
    )
    parser.add_argument("prompt")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        text = generate(args.path, args.prompt, args.max_new_tokens, args.temperature, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
