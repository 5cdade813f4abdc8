"""The BioMedLM tokenizer: a byte-level BPE trained on the corpus, saved as a Hugging Face folder.

It has no pad token on purpose: llm-foundry's collator masks every pad id out of the loss, so
pad = EOS would drop every EOS from training.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from data_prep.config import TokenizerConfig
from data_prep.document import PrepError
from data_prep.manifest import eos_token


def train_tokenizer(texts: Iterable[str], cfg: TokenizerConfig, out_dir: Path) -> int:
    """Train the byte-level BPE on ``texts`` (streamed) and save it to ``out_dir`` as a
    GPT2TokenizerFast; returns the real vocabulary size (a small corpus yields fewer merges)."""
    from transformers import GPT2TokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=[cfg.eos_token],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    hf = GPT2TokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=cfg.eos_token,
        eos_token=cfg.eos_token,
        unk_token=cfg.eos_token,
        model_max_length=cfg.model_max_length,
        add_prefix_space=False,
    )
    hf.save_pretrained(str(out_dir))  # type: ignore[attr-defined]
    return len(hf)  # type: ignore[arg-type]


def load_tokenizer_dir(src: Path, cfg: TokenizerConfig) -> Any:
    """Load the tokenizer directory ``src`` (``tokenizer.path``), checking it has the EOS token
    (before any work, then again when it is copied)."""
    from transformers import AutoTokenizer

    if not src.is_dir():
        raise PrepError(f"tokenizer.path: {src} is not a directory")
    if not any((src / name).is_file() for name in ("tokenizer.json", "vocab.json")):
        raise PrepError(f"tokenizer.path: {src} has neither tokenizer.json nor vocab.json")
    try:
        hf = AutoTokenizer.from_pretrained(str(src), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise PrepError(
            f"tokenizer.path: {src} does not load ({str(exc).splitlines()[0]})"
        ) from None
    if (
        hf.convert_tokens_to_ids(cfg.eos_token) in (None, hf.unk_token_id)
        and hf.eos_token != cfg.eos_token
    ):
        raise PrepError(f"tokenizer.path: {src} has no {cfg.eos_token!r} token")
    return hf


def copy_tokenizer(src: Path, cfg: TokenizerConfig, out_dir: Path) -> int:
    """Reuse a tokenizer directory (e.g. the released BioMedLM one), normalised into ``out_dir``."""
    hf = load_tokenizer_dir(src, cfg)
    hf.eos_token = cfg.eos_token
    without_length_limits(hf.backend_tokenizer)
    hf.save_pretrained(str(out_dir))
    return len(hf)


def without_length_limits(tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` with truncation and padding off: a reused tokenizer.json may carry them
    (saved after a call with ``truncation=True``), and they would cut or pad every document."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def eos_id(tokenizer_dir: Path) -> int:
    """The id of the EOS token recorded in a saved directory."""
    token = eos_token(tokenizer_dir) or ""
    token_id = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json")).token_to_id(token)
    if token_id is None:
        raise PrepError(f"{tokenizer_dir}: EOS token {token!r} not in the vocabulary")
    return int(token_id)
