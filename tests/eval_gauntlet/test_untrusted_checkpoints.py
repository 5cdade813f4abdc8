"""No checkpoint runs code by default: crafted pickles are refused naming the flag, real ones load.

Each crafted checkpoint's payload creates a file when unpickled; that file must not appear. With
``--trust-checkpoint`` it does (the control: the payloads are real).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from biomedlm.generate import main as generate_main
from biomedlm.trained.kinds import UntrustedCheckpoint
from biomedlm.trained.load import load
from eval_gauntlet.__main__ import main
from eval_gauntlet.rows import read_rows
from tests.fixtures.checkpoints import (
    crafted_entry,
    crafted_file,
    crafted_metadata,
    planted_tokenizer_file,
    sharded_copy,
)

ARGS = ["--tasks", "medqa_4options", "--sample", "4", "--shots", "0", "--no-progress"]


@pytest.fixture(params=["file", "metadata", "entry"])
def crafted(request: pytest.FixtureRequest, composer_run: Path, tmp_path: Path) -> Path:
    """An ``ep0-ba99-rank0.pt``, a sharded folder's ``.metadata``, a sharded folder's entry."""
    marker = tmp_path / "payload-ran"
    if request.param == "file":
        return crafted_file(tmp_path / "run" / "ep0-ba99-rank0.pt", mkdir(tmp_path / "run", marker))
    if request.param == "metadata":
        return crafted_metadata(tmp_path / "run" / "ep0-ba99", marker)
    import torch

    state = torch.load(composer_run / "ep0-ba2-rank0.pt", weights_only=False)["state"]
    return crafted_entry(tmp_path / "run" / "ep0-ba99", state, marker)


def mkdir(folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return marker


def test_a_crafted_checkpoint_is_refused_naming_the_flag(crafted: Path, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    with pytest.raises(UntrustedCheckpoint, match=r"builtins\.exec.*Pass --trust-checkpoint"):
        load(crafted)
    assert not marker.exists()
    with pytest.raises(ValueError):  # trusted, the payload runs (then the fake state fails)
        load(crafted, trust=True)
    assert marker.exists()


def test_the_gauntlet_and_generate_refuse_it_in_one_line(
    crafted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker, out = tmp_path / "payload-ran", tmp_path / "eval"
    assert main(["score", str(crafted), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--trust-checkpoint" in err and str(crafted) in err
    assert generate_main([str(crafted), "Aspirin"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--trust-checkpoint" in err
    assert not marker.exists() and not (out / "results.jsonl").exists()


def test_in_a_folder_it_is_skipped_and_the_real_ones_scored(
    composer_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "ep0-ba2-rank0.pt").symlink_to(composer_run / "ep0-ba2-rank0.pt")
    sharded_copy(composer_run / "ep0-ba1-rank0.pt", run / "ep0-ba1")
    crafted_file(run / "ep0-ba99-rank0.pt", tmp_path / "payload-ran")
    out = tmp_path / "eval"
    assert main(["score", str(run), "--out", str(out), "--settle", "0", *ARGS]) == 3
    averages = [
        (r["checkpoint"], r["step"])
        for r in read_rows(out / "results.jsonl")
        if r["kind"] == "average"
    ]
    assert averages == [("ep0-ba1", 1), ("ep0-ba2-rank0", 2)]  # real file and shards: by default
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "ep0-ba99-rank0.pt: refused" in line and "--trust-checkpoint" in line
    assert not (tmp_path / "payload-ran").exists()


@pytest.mark.parametrize("kind", [".py", ".json"])
def test_a_tokenizer_file_named_outside_its_folder_is_never_written(
    composer_run: Path, tmp_path: Path, kind: str
) -> None:
    from composer.models import HuggingFaceModel

    from biomedlm.trained.kinds import CheckpointError

    target = tmp_path / "elsewhere" / f"planted{kind}"
    target.parent.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    crafted = planted_tokenizer_file(
        composer_run / "ep0-ba2-rank0.pt", run / "ep0-ba2-rank0.pt", target.with_suffix(""), kind
    )
    for trust in (False, True):
        with pytest.raises(CheckpointError, match=rf"refused: .*{target.name}.*not a plain"):
            load(crafted, trust=trust)
    assert not target.exists()
    # Negative control: Composer's own reader writes the file where the checkpoint says.
    import torch

    state = torch.load(crafted, weights_only=False)["state"]["integrations"]["huggingface"]
    HuggingFaceModel.load_huggingface_tokenizer_from_saved_state(
        state, tokenizer_save_dir=str(tmp_path / "scratch")
    )
    assert target.exists()
