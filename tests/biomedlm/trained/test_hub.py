"""A Hugging Face hub id where a model path is expected (``biomedlm.trained.hub``), offline.

A replica of the released BioMedLM (its config's vocabulary, EOS 28895, no pad token, 1,024
positions, ``vocab.json`` + ``merges.txt``; 2 small layers) is written into a local hub cache
layout under ``tmp_path``, standing in for a download: the id resolves to its snapshot through
huggingface_hub, every reader loads it, a missing id fails in one line, a local path wins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from biomedlm.settings import RecipeError
from biomedlm.trained.hub import HubMiss, is_hub_id, locate, revision_of
from tests.fixtures.released import EOS, RELEASED, VOCAB, hub_cache, released_replica


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("hub")
    return hub_cache(cache, RELEASED, released_replica(tmp_path_factory.mktemp("replica")))


@pytest.fixture
def offline_cache(snapshot: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """huggingface_hub reading only the cache that holds ``snapshot`` (HF_HUB_OFFLINE=1)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(snapshot.parents[2]))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return snapshot.parents[2]


def test_what_reads_as_a_hub_id() -> None:
    assert is_hub_id(RELEASED) and is_hub_id("gpt2-org/tiny.model_1")
    for path in ("runs/debug-cpu/hf/huggingface/ba60", "./a/b", "/abs/b", "gpt2", "a/../b", "a/b/"):
        assert not is_hub_id(path), path


def test_a_hub_id_is_read_from_the_cache_offline_as_every_reader_loads_it(
    snapshot: Path, offline_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from biomedlm.init_weights import check_tokenizer, hf_folder
    from biomedlm.trained.load import load

    monkeypatch.chdir(tmp_path)  # no local folder of that name
    assert locate(RELEASED) == snapshot
    assert revision_of(snapshot) == snapshot.name and revision_of(tmp_path) is None
    assert hf_folder(RELEASED, tmp_path / "init") == snapshot  # model.init_from
    check_tokenizer(RELEASED, snapshot, None)  # vocab.json + merges.txt alone: its tokenizer
    trained = load(Path(RELEASED))  # biomedlm.generate, the gauntlet, fine-tuned scorers
    config = trained.model.config
    assert type(trained.model).__name__ == "GPT2LMHeadModel"
    assert (config.vocab_size, config.eos_token_id, config.n_positions) == (VOCAB, EOS, 1024)
    tokenizer = trained.tokenizer
    assert (len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id) == (VOCAB, EOS, None)


def test_a_local_path_wins_over_a_hub_id(
    offline_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / RELEASED).mkdir(parents=True)
    assert locate(RELEASED) == Path(RELEASED)


def test_a_hub_id_missing_from_the_cache_offline_fails_in_one_line(
    offline_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from biomedlm.init_weights import hf_folder
    from eval_gauntlet.__main__ import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(HubMiss) as caught:
        locate("stanford-crfm/NotThere")
    message = str(caught.value)
    assert "\n" not in message
    assert "stanford-crfm/NotThere" in message and "huggingface-cli download" in message
    assert "HF_HUB_OFFLINE" in message
    with pytest.raises(RecipeError, match=r"^model.init_from: stanford-crfm/NotThere: no such"):
        hf_folder("stanford-crfm/NotThere", tmp_path / "init")
    assert main(["score", "stanford-crfm/NotThere", "--out", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "huggingface-cli download stanford-crfm/NotThere" in err
    assert not (tmp_path / "eval").exists()
