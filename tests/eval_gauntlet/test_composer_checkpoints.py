"""``score`` reads Composer checkpoints (a file, or every one of a run's save folder) directly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eval_gauntlet.__main__ import main
from eval_gauntlet.rows import read_rows

ARGS = ["--tasks", "medqa_4options", "--sample", "6", "--shots", "0", "--no-progress"]
TOKENS_PER_BATCH = 2 * 16  # the fixture's batch of 2 sequences of 16 tokens


def logprobs(out: Path, name: str) -> list[float]:
    path = out / "predictions" / name / "medqa_4options.0shot.jsonl"
    return [x for line in path.read_text().splitlines() for x in json.loads(line)["logprobs"]]


def test_a_checkpoint_file_scores_like_its_weights(
    composer_run: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    assert main(["score", str(composer_run / "ep0-ba2-rank0.pt"), "--out", str(out), *ARGS]) == 0
    assert main(["score", str(tiny_dir), "--name", "hf", "--out", str(out), *ARGS]) == 0
    # trained at lr 0: the checkpoint's weights are the HF folder's, so are its scores
    assert logprobs(out, "ep0-ba2-rank0") == pytest.approx(logprobs(out, "hf"), abs=1e-5)
    (task,) = [r for r in read_rows(out / "results.jsonl") if r["checkpoint"] == "ep0-ba2-rank0"][
        :1
    ]
    assert task["step"] == 2 and task["tokens"] == 2 * TOKENS_PER_BATCH  # from the checkpoint


def test_dtype_casts_a_composer_checkpoint_and_an_hf_folder(
    composer_run: Path, tiny_dir: Path
) -> None:
    """``--dtype`` loads the weights in that dtype whatever they were saved in, as lm-eval's
    ``dtype=``: a Composer checkpoint (fp32 weights) and an HF folder alike."""
    import torch

    from eval_gauntlet.scoring import load_checkpoint

    for path in (composer_run / "ep0-ba2-rank0.pt", tiny_dir):
        for dtype, expected in (("bfloat16", torch.bfloat16), ("auto", torch.float32)):
            model, _, _ = load_checkpoint(path, dtype=dtype)
            assert {p.dtype for p in model.parameters()} == {expected}, (path, dtype)


def test_a_save_folder_scores_every_checkpoint_once(composer_run: Path, tmp_path: Path) -> None:
    assert (composer_run / "latest-rank0.pt").is_symlink()
    out = tmp_path / "eval"
    assert main(["score", str(composer_run), "--out", str(out), "--settle", "0", *ARGS]) == 0
    averages = [
        (r["checkpoint"], r["step"], r["tokens"])
        for r in read_rows(out / "results.jsonl")
        if r["kind"] == "average"
    ]
    assert averages == [
        ("ep0-ba1-rank0", 1, TOKENS_PER_BATCH),
        ("ep0-ba2-rank0", 2, 2 * TOKENS_PER_BATCH),
    ]  # the `latest` link is not a checkpoint of its own
    rows = len(read_rows(out / "results.jsonl"))
    assert main(["score", str(composer_run), "--out", str(out), "--settle", "0", *ARGS]) == 0
    assert len(read_rows(out / "results.jsonl")) == rows  # a rerun scores nothing again


def test_a_half_written_checkpoint_is_one_line_and_left_unscored(
    composer_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "checkpoints"
    shutil.copytree(composer_run, run, symlinks=True)
    whole = (run / "ep0-ba2-rank0.pt").read_bytes()
    (run / "ep0-ba2-rank0.pt").write_bytes(whole[: len(whole) // 2])  # cut off mid-write
    out = tmp_path / "eval"

    assert main(["score", str(run / "ep0-ba2-rank0.pt"), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {run / 'ep0-ba2-rank0.pt'}: not a complete Composer checkpoint")
    assert "\n" not in err and not (out / "results.jsonl").exists()

    assert main(["score", str(run), "--out", str(out), "--settle", "0", *ARGS]) == 3  # skipped
    scored = {r["checkpoint"] for r in read_rows(out / "results.jsonl")}
    assert scored == {"ep0-ba1-rank0"}  # the good one scored, the cut one skipped, nothing of it

    (run / "ep0-ba2-rank0.pt").write_bytes(whole)  # the writer finishes: now it is scored
    assert main(["score", str(run), "--out", str(out), "--settle", "0", *ARGS]) == 0
    assert {r["checkpoint"] for r in read_rows(out / "results.jsonl")} == scored | {"ep0-ba2-rank0"}


def test_one_checkpoints_name_or_step_for_a_folder_is_refused(
    composer_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    assert main(["score", str(composer_run), "--step", "7", "--out", str(out), *ARGS]) == 2
    assert "--step name one checkpoint" in capsys.readouterr().err
    assert not out.exists()


def test_a_folder_without_checkpoints_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", str(tmp_path), *ARGS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Hugging Face model (config.json) and no checkpoints" in err
    assert main(["score", str(tmp_path / "missing"), *ARGS]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"\0" * 4096, b"not a checkpoint at all"])
def test_a_file_that_is_no_checkpoint_is_one_line(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "ep0-ba3-rank0.pt"
    bad.write_bytes(content)
    assert main(["score", str(bad), "--out", str(tmp_path / "eval"), *ARGS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a complete Composer checkpoint" in err
