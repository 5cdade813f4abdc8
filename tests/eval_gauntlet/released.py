"""A replica of the released BioMedLM as users get it, small, in a local Hugging Face hub cache.

The released model's layout (``stanford-crfm/BioMedLM``): a ``GPT2LMHeadModel`` whose config has
28,896 tokens, EOS (and BOS) id 28895, no pad token and 1,024 positions, weights in
``pytorch_model.bin``, and a GPT-2 BPE tokenizer as ``vocab.json`` + ``merges.txt`` alone. The
replica keeps all of that but has 2 layers of width 64; its vocabulary is a small BPE trained on
the shipped benchmarks, filled up to 28,895 entries with tokens no merge makes, then
``<|endoftext|>``. :func:`hub_cache` writes a folder into huggingface_hub's cache layout
(``models--owner--name/{blobs,refs/main,snapshots/<sha>}``), standing in for a download.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tests.eval_gauntlet.tiny import REPO, fixture_text

RELEASED = "stanford-crfm/BioMedLM"
VOCAB, EOS = 28_896, 28_895
END = "<|endoftext|>"


def released_tokenizer(out_dir: Path) -> None:
    """``vocab.json`` (28,896 entries, ``<|endoftext|>`` last) and ``merges.txt`` in ``out_dir``."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(fixture_text(), vocab_size=1000, min_frequency=2, show_progress=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_file, merges = bpe.save_model(str(out_dir))
    vocab = json.loads(Path(vocab_file).read_text())
    filler = (f"<unused{i}>" for i in range(VOCAB))
    while len(vocab) < EOS:
        vocab[next(filler)] = len(vocab)
    vocab[END] = EOS
    Path(vocab_file).write_text(json.dumps(vocab))
    assert Path(merges).name == "merges.txt"


def released_replica(out_dir: Path, seed: int = 0) -> Path:
    """The released model's layout with 2 layers of width 64, in ``out_dir``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = json.loads((REPO / "biomedlm" / "architecture" / "config.json").read_text())
    config.pop("_comment")
    config.update(n_layer=2, n_embd=64, n_head=2, n_ctx=1024, initializer_range=0.2)
    assert config["vocab_size"] == VOCAB and config["eos_token_id"] == EOS
    assert config["n_positions"] == 1024 and "pad_token_id" not in config
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**config))
    model.save_pretrained(out_dir, safe_serialization=False)  # pytorch_model.bin, as released
    (out_dir / "generation_config.json").unlink(missing_ok=True)
    released_tokenizer(out_dir)
    return out_dir


def hub_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """``folder``'s files as huggingface_hub caches a download of ``repo_id``; the snapshot."""
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    files = sorted(p for p in folder.iterdir() if p.is_file())
    sha = hashlib.sha1(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()
    snapshot = storage / "snapshots" / sha
    (storage / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for path in files:
        blob = storage / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copyfile(path, blob)
        (snapshot / path.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    (storage / "refs").mkdir(exist_ok=True)
    (storage / "refs" / "main").write_text(sha)
    return snapshot
