"""Sample text from a Composer checkpoint (file or sharded folder) or a Hugging Face model directory.

Usage::

    python -m biomedlm.generate runs/debug-cpu/checkpoints/ep0-ba60-rank0.pt "Aspirin inhibits"
    python -m biomedlm.generate runs/debug-cpu/hf/huggingface/ba60 "Aspirin inhibits" --max-new-tokens 40
    python -m biomedlm.generate runs/RUN/checkpoints/ep0-ba2000 "Aspirin inhibits"     # FSDP shards

A Composer checkpoint whose pickles name anything beyond Composer's own types is refused;
``--trust-checkpoint`` loads it anyway (its pickles may run code: only for checkpoints you trust).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from biomedlm.checkpoint import TRUST_FLAG, CheckpointError, load_pretrained


def generate(
    path: Path,
    prompt: str,
    max_new_tokens: int = 32,
    temperature: float = 0.8,
    seed: int = 0,
    trust: bool = False,
) -> str:
    """``prompt`` continued by the model (sampled, seeded)."""
    import torch

    model, tokenizer, _ = load_pretrained(path, trust=trust)
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
    parser.add_argument(
        TRUST_FLAG, action="store_true", help="load a checkpoint whose pickles may run code"
    )
    args = parser.parse_args(argv)
    try:
        text = generate(
            args.path,
            args.prompt,
            args.max_new_tokens,
            args.temperature,
            args.seed,
            trust=args.trust_checkpoint,
        )
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
