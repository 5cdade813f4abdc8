"""The BioMedLM tokenizer and the packed MDS shards, read back by streaming and llm-foundry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streaming import StreamingDataset
from transformers import AutoTokenizer

from data_prep.config import PackConfig, TokenizerConfig
from data_prep.document import PrepError
from data_prep.packing import pack_split
from data_prep.tokenizer import copy_tokenizer, eos_id, train_tokenizer

pytestmark = pytest.mark.xdist_group("streaming")  # tests/conftest.py says why

SAMPLE = (
    Path(__file__).resolve().parents[2] / "data_prep" / "samples" / "pubmedqa_train_contexts.jsonl"
)
EOS = "<|endoftext|>"


def sample_texts(n: int = 200) -> list[str]:
    with SAMPLE.open() as lines:
        return [json.loads(line)["text"] for _, line in zip(range(n), lines, strict=False)]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok")
    assert train_tokenizer(iter(sample_texts()), TokenizerConfig(vocab_size=600), out) == 600
    return out


def test_tokenizer_settings_match_biomedlm(tok_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(tok_dir)
    assert type(tok).__name__ == "GPT2TokenizerFast" and len(tok) == 600
    assert tok.eos_token == tok.bos_token == tok.unk_token == EOS
    assert tok.pad_token is None  # pad = EOS would mask every EOS out of llm-foundry's loss
    assert tok.all_special_tokens == [EOS] and tok.convert_tokens_to_ids(EOS) == eos_id(tok_dir)
    assert tok("Hello")["input_ids"] != tok(" Hello")["input_ids"]  # no prefix space
    assert tok.model_max_length == 1024


def test_round_trip_on_biomedical_unicode(tok_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tok_dir)
    text = "IL-6 (10² pg/mL), 5 µg/kg β-blocker; Δ = 0.3 ± 0.1 °C\n\nRESULTS: ﬁne."
    assert tok.decode(tok(text)["input_ids"]) == text


def test_small_corpus_yields_fewer_merges_than_asked(tmp_path: Path) -> None:
    vocab = train_tokenizer(iter(sample_texts(20)), TokenizerConfig(), tmp_path)
    assert 256 < vocab < 28896 and len(AutoTokenizer.from_pretrained(tmp_path)) == vocab


def test_reuse_a_tokenizer_directory(tok_dir: Path, tmp_path: Path) -> None:
    assert copy_tokenizer(tok_dir, TokenizerConfig(), tmp_path / "copy") == 600
    a, b = AutoTokenizer.from_pretrained(tok_dir), AutoTokenizer.from_pretrained(tmp_path / "copy")
    text = sample_texts(1)[0]
    assert a(text)["input_ids"] == b(text)["input_ids"] and b.pad_token is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrepError, match=r"empty has neither tokenizer\.json nor vocab\.json"):
        copy_tokenizer(tmp_path / "empty", TokenizerConfig(), tmp_path / "x")


@pytest.fixture(scope="module")
def packed(tok_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, int]:
    out = tmp_path_factory.mktemp("mds") / "train"
    cfg = PackConfig(seq_len=64, batch_docs=7, size_limit="20kb")
    texts = sample_texts(50)
    stats = pack_split(iter(texts), tok_dir, out, cfg, total_docs=len(texts))
    tok = AutoTokenizer.from_pretrained(tok_dir)
    eos = tok.eos_token_id
    expected = np.concatenate([np.array(tok(t)["input_ids"] + [eos]) for t in texts])
    assert stats.documents == 50 and stats.tokens == expected.size
    assert stats.samples == expected.size // 64 and stats.dropped_tail_tokens == expected.size % 64
    assert stats.dtype == "uint16"
    return out, expected[: stats.samples * 64], eos


def test_shards_hold_the_documents_with_eos_between(packed: tuple[Path, np.ndarray, int]) -> None:
    out, expected, eos = packed
    dataset = StreamingDataset(local=str(out), batch_size=1, shuffle=False)
    rows = [dataset[i]["tokens"] for i in range(len(dataset))]
    assert all(r.dtype == np.uint16 and r.shape == (64,) for r in rows)
    got = np.concatenate(rows)
    np.testing.assert_array_equal(got, expected)
    assert (got == eos).sum() == (expected == eos).sum() > 10
    index = json.loads((out / "index.json").read_text())
    assert len(index["shards"]) > 1 and index["shards"][0]["compression"] == "zstd"
    assert index["shards"][0]["hashes"] == ["sha1", "xxh64"]


def test_llm_foundry_text_loader_reads_the_shards(
    packed: tuple[Path, np.ndarray, int], tok_dir: Path
) -> None:
    from llmfoundry.data.text_data import build_text_dataloader

    out, expected, eos = packed
    tok = AutoTokenizer.from_pretrained(tok_dir)
    spec = build_text_dataloader(
        tokenizer=tok,
        device_batch_size=4,
        dataset={
            "local": str(out.parent),
            "split": out.name,
            "max_seq_len": 64,
            "shuffle": False,
            "token_encoding_type": "uint16",
            "eos_token_id": eos,
        },
        drop_last=False,
        num_workers=0,
        prefetch_factor=None,
        persistent_workers=False,
    )
    batches = list(spec.dataloader)
    input_ids = np.concatenate([b["input_ids"].numpy().reshape(-1) for b in batches])
    np.testing.assert_array_equal(input_ids, expected)
    labels = np.concatenate([b["labels"].numpy().reshape(-1) for b in batches])
    assert (labels == eos).sum() == (expected == eos).sum()  # EOS stays in the loss (no pad = EOS)


def packed_tokens(texts: list[str], tokenizer_dir: Path, out: Path) -> tuple[np.ndarray, int]:
    """Every token packed from ``texts`` (one-token samples: no tail dropped), and the count."""
    stats = pack_split(iter(texts), tokenizer_dir, out, PackConfig(seq_len=1, size_limit="1mb"))
    dataset = StreamingDataset(local=str(out), batch_size=1, shuffle=False)
    return np.concatenate([dataset[i]["tokens"] for i in range(len(dataset))]), stats.tokens


def test_a_literal_eos_in_a_text_is_text_not_an_eos(tok_dir: Path, tmp_path: Path) -> None:
    """Was one more EOS per document: a web page quoting "<|endoftext|>" ended there."""
    text = f"Example code from a web page: print('{EOS}') and more text follows."
    tokens, _ = packed_tokens([text, text], tok_dir, tmp_path / "mds")
    assert (tokens == eos_id(tok_dir)).sum() == 2  # the two the packer appends, after each text
    decoded = AutoTokenizer.from_pretrained(tok_dir).decode(tokens.tolist())
    assert decoded == (text + EOS) * 2


def test_a_reused_tokenizer_s_truncation_and_padding_are_dropped(
    tok_dir: Path, tmp_path: Path
) -> None:
    """Was every document cut to 8 tokens: tokenizer.json as saved after a truncating call."""
    from tokenizers import Tokenizer

    reused = tmp_path / "reused"
    shutil.copytree(tok_dir, reused)
    backend = Tokenizer.from_file(str(reused / "tokenizer.json"))
    backend.enable_truncation(max_length=8)
    backend.enable_padding(pad_id=eos_id(tok_dir), pad_token=EOS, length=8)
    backend.save(str(reused / "tokenizer.json"))
    texts = sample_texts(3)
    whole = sum(len(AutoTokenizer.from_pretrained(tok_dir)(t)["input_ids"]) + 1 for t in texts)
    assert packed_tokens(texts, reused, tmp_path / "mds")[1] == whole
    copy_tokenizer(reused, TokenizerConfig(), tmp_path / "copy")
    saved = json.loads((tmp_path / "copy" / "tokenizer.json").read_text())
    assert saved["truncation"] is None and saved["padding"] is None
