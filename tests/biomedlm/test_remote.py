"""Remote data and checkpoints through S3, against a loopback S3 server (moto): no network.

The recipe streams its shards from ``s3://`` into a local cache, saves its checkpoints to
``s3://``, and each relaunch of the same command resumes from the bucket's latest checkpoint
(autoresume; see ``biomedlm.autoresume`` for the stale local copy Composer would use instead).
Runs in a scratch working directory: Composer downloads into ``./s3:/...``.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from biomedlm.foundry_config import to_foundry
from biomedlm.preflight import preflight
from biomedlm.recipe import Recipe
from biomedlm.recipe_files import resolved
from biomedlm.recipe_kinds import load_recipe
from biomedlm.relaunch import check_relaunch
from biomedlm.run_record import write_record
from biomedlm.settings import RecipeError
from tests.fixtures import runs
from tests.fixtures.paths import REPO
from tests.fixtures.runs import (
    DEBUG,
    data_overrides,
    debug_command,
    losses,
    run_debug,
    run_training,
)

BUCKET = "biomedlm-test"


@pytest.fixture
def s3(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A loopback S3 holding the prepared shards under ``s3://biomedlm-test/pubmed``."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its buckets in process-wide state: start each test on an empty S3
    urllib.request.urlopen(
        urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    ).close()
    env = {
        "S3_ENDPOINT_URL": f"http://{host}:{port}",  # read by Composer and by streaming
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"])
    client.create_bucket(Bucket=BUCKET)
    for split in ("train", "validation"):
        for path in (prepared / split).iterdir():
            client.upload_file(str(path), BUCKET, f"pubmed/{split}/{path.name}")
    client.upload_file(str(prepared / "manifest.json"), BUCKET, "pubmed/manifest.json")
    yield client
    server.stop()


def remote_overrides(tmp_path: Path) -> list[str]:
    """The debug recipe's data streamed from the bucket, its checkpoints saved there."""
    return [
        "eval_interval=2ba",
        "save_interval=2ba",
        f"train_loader.streams.pubmed.remote=s3://{BUCKET}/pubmed",
        f"train_loader.streams.pubmed.local={tmp_path / 'cache' / 'train'}",
        f"eval_loader.streams.pubmed.remote=s3://{BUCKET}/pubmed",
        f"eval_loader.streams.pubmed.local={tmp_path / 'cache' / 'eval'}",
        f"save_folder=s3://{BUCKET}/runs/debug/checkpoints",
        f"tokenizer.path={runs.DATA / 'tokenizer'}",
    ]


# biomedlm.train with Composer's upload check polling every 0.5 s, not 30 s (the module says why)
QUICK_UPLOADS = [sys.executable, "-m", "tests.fixtures.quick_uploads"]


def launch(tmp_path: Path, batches: int) -> list[float]:
    return losses(
        run_debug(
            tmp_path,
            f"max_duration={batches}ba",
            *remote_overrides(tmp_path),
            launcher=QUICK_UPLOADS,
            env={"PYTHONPATH": str(REPO)},  # run from a scratch folder: tests/ importable
            cwd=tmp_path,
        )
    )


@pytest.mark.slow
def test_s3_data_and_checkpoints_with_autoresume(s3, tmp_path: Path) -> None:
    assert len(launch(tmp_path, 2)) == 2
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert "runs/debug/checkpoints/ep0-ba2-rank0.pt" in keys
    assert list((tmp_path / "cache" / "train" / "train").glob("*.mds"))  # streamed from S3
    assert len(launch(tmp_path, 4)) == 2  # resumed from the bucket: batches 3 and 4 only
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert "runs/debug/checkpoints/ep0-ba4-rank0.pt" in keys
    # again: from batch 4, not from the batch-2 checkpoint the last launch downloaded
    assert len(launch(tmp_path, 6)) == 2
    assert not (REPO / "s3:").exists()


def check_remote(recipe: Recipe, remote: str, max_seq_len: int = 256) -> dict[str, object]:
    """The launch checks of ``recipe`` with its train stream read from ``remote``; the stream."""
    recipe.train_loader.streams["pubmed"].remote = remote
    recipe.model.max_seq_len = max_seq_len
    return to_foundry(recipe, preflight(recipe))["train_loader"]["dataset"]["streams"]["pubmed"]


def test_remote_streams_get_the_launch_checks(s3, prepared: Path, tmp_path: Path) -> None:
    """Were skipped for every remote: a mismatch trained, or crashed at the first batch."""
    recipe = load_recipe(
        DEBUG,
        [
            *data_overrides(),
            f"run_dir={tmp_path / 'run'}",
            f"train_loader.streams.pubmed.local={tmp_path / 'cache'}",
        ],
        components=False,
    )
    remote = f"s3://{BUCKET}/pubmed"
    stream = check_remote(recipe, remote)
    assert stream["remote"] == remote and stream["local"] == str(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # checked from a temporary copy of the index

    with pytest.raises(RecipeError) as caught:
        check_remote(recipe, remote, max_seq_len=512)
    assert str(caught.value) == (
        f"train_loader.streams.pubmed: the shards at {remote}/train hold 256-token samples but "
        "model.max_seq_len is 512; set model.max_seq_len=256, or re-pack the data with "
        "pack.seq_len=512"
    )

    manifest = json.loads((prepared / "manifest.json").read_text())
    manifest["tokenizer"] |= {"sha256": "0" * 64, "vocab_size": 500}
    s3.put_object(Bucket=BUCKET, Key="other/manifest.json", Body=json.dumps(manifest))
    s3.copy_object(
        Bucket=BUCKET, Key="other/train/index.json", CopySource=f"{BUCKET}/pubmed/train/index.json"
    )
    with pytest.raises(RecipeError, match=rf"the shards at s3://{BUCKET}/other were made with "):
        check_remote(recipe, f"s3://{BUCKET}/other")

    with pytest.raises(RecipeError) as caught:
        check_remote(recipe, f"s3://{BUCKET}/missing")
    message = str(caught.value)
    assert message.startswith(
        f"train_loader.streams.pubmed.remote: cannot read s3://{BUCKET}/missing/train/index.json ("
    )
    assert "\n" not in message and "S3_ENDPOINT_URL" in message


def test_a_shard_missing_from_the_remote_fails_at_launch(s3, tmp_path: Path) -> None:
    """Was: the launch check passed and the first batch died in streaming's download thread."""
    recipe = load_recipe(
        DEBUG,
        [*data_overrides(), f"train_loader.streams.pubmed.local={tmp_path / 'cache'}"],
        components=False,
    )
    remote = f"s3://{BUCKET}/pubmed"
    s3.delete_object(Bucket=BUCKET, Key="pubmed/train/shard.00000.mds")  # never read: zstd is
    check_remote(recipe, remote)
    s3.delete_object(Bucket=BUCKET, Key="pubmed/train/shard.00000.mds.zstd")
    with pytest.raises(RecipeError) as caught:
        check_remote(recipe, remote)
    assert str(caught.value) == (
        f"train_loader.streams.pubmed.remote: {remote}/train has no shard.00000.mds.zstd, which "
        "its index.json names (1 of 1 shard files missing); upload the whole split again"
    )


def test_a_save_folder_in_a_missing_bucket_fails_at_launch(s3, tmp_path: Path) -> None:
    """Was a traceback from Composer's uploader at its start, after the model was built."""
    from biomedlm.outputs import check_outputs

    def recipe(save_folder: str) -> Recipe:
        return load_recipe(
            DEBUG, [f"run_dir={tmp_path / 'run'}", f"save_folder={save_folder}"], components=False
        )

    check_outputs(recipe(f"s3://{BUCKET}/runs/debug/checkpoints"))
    with pytest.raises(RecipeError) as caught:
        check_outputs(recipe("s3://no-such-bucket/runs/debug/checkpoints"))
    message = str(caught.value)
    assert message.startswith(
        "save_folder: cannot write to s3://no-such-bucket/runs/debug/checkpoints ("
    )
    assert "NoSuchBucket" in message and "\n" not in message
    assert message.endswith(
        "; point it at a bucket this run can write (credentials, S3_ENDPOINT_URL)"
    )


def test_a_local_cache_of_other_shards_is_refused(s3, prepared: Path, tmp_path: Path) -> None:
    """Streaming reads a cache's own index and shards when they exist: another data set's (or
    this remote's before it was republished) were trained on although the remote was checked."""
    recipe = load_recipe(
        DEBUG,
        [
            *data_overrides(),
            f"run_dir={tmp_path / 'run'}",
            f"train_loader.streams.pubmed.local={tmp_path / 'cache'}",
        ],
        components=False,
    )
    remote = f"s3://{BUCKET}/pubmed"
    cached = tmp_path / "cache" / "train"
    cached.mkdir(parents=True)
    index = (prepared / "train" / "index.json").read_text()
    (cached / "index.json").write_text(index)
    assert check_remote(recipe, remote)["local"] == str(tmp_path / "cache")  # this set's: used
    (cached / "index.json").write_text(index.replace('"sha1": "', '"sha1": "0'))  # same names
    with pytest.raises(RecipeError) as caught:
        check_remote(recipe, remote)
    assert str(caught.value) == (
        f"train_loader.streams.pubmed.local: the cache {cached} holds other shards than the "
        "stream's data (its index.json differs: another data set, or the remote republished "
        f"since); empty it (rm -r {cached}) or point train_loader.streams.pubmed.local at a "
        "new folder"
    )


CHECKPOINTS = f"s3://{BUCKET}/runs/debug/checkpoints"
PREFIX = "runs/debug/checkpoints"


def put_checkpoint(s3, batch: int, *, sharded: bool = False) -> str:
    """A checkpoint at ``batch`` in the bucket and Composer's ``latest`` symlink object naming it."""
    stamp = {"batch": batch, "token": 2048 * batch, "sample": 8 * batch, "epoch": 0}
    buffer = io.BytesIO()
    torch.save({"state": {"timestamp": {"Timestamp": stamp}}}, buffer)
    if sharded:  # only the name is read: the shards are never downloaded for a check
        target, link = f"{PREFIX}/ep0-ba{batch}", "latest-sharded-rank0.symlink"
        s3.put_object(Bucket=BUCKET, Key=f"{target}/.metadata", Body=b"")
    else:
        target, link = f"{PREFIX}/ep0-ba{batch}-rank0.pt", "latest-rank0.pt.symlink"
        s3.put_object(Bucket=BUCKET, Key=target, Body=buffer.getvalue())
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{link}", Body=target.encode())
    return f"s3://{BUCKET}/{target}"


def remote_relaunch(tmp_path: Path, *changed: str) -> str | None:
    """:func:`check_relaunch` of the debug recipe saving to the bucket, its run folder recorded."""
    base = [*data_overrides(), f"run_dir={tmp_path / 'run'}", f"save_folder={CHECKPOINTS}"]
    recorded = tmp_path / "recorded"  # the record beside the bucket's checkpoints, written once
    if not recorded.exists():
        write_record(CHECKPOINTS, resolved(load_recipe(DEBUG, base, components=False)), {})
        recorded.touch()
    recipe = load_recipe(DEBUG, [*base, *changed], components=False)
    return check_relaunch(recipe, resolved(recipe))


def test_a_remote_run_is_checked_from_its_latest_symlink(s3, tmp_path: Path) -> None:
    """Were skipped for every ``s3://`` save_folder: a finished run died in Composer's traceback."""
    assert remote_relaunch(tmp_path, "max_duration=2ba") is None  # nothing saved yet: trains
    put_checkpoint(s3, 2)
    newest = put_checkpoint(s3, 4)
    assert remote_relaunch(tmp_path, "max_duration=4ba") == (
        f"run debug-cpu has finished: batch 4, at {newest} (max_duration=4ba); to train it "
        "further, relaunch with a longer max_duration"
    )
    assert remote_relaunch(tmp_path, "max_duration=6ba") is None
    with pytest.raises(RecipeError, match=r"^optimizer.lr \(0.003 -> 0.001\).*would be ignored"):
        remote_relaunch(tmp_path, "optimizer.lr=0.001")
    with pytest.raises(RecipeError, match=r"^model.n_layers \(2 -> 3\): differs"):
        remote_relaunch(tmp_path, "model.n_layers=3")
    # in tokens: the checkpoint file is downloaded for its timestamp (8,192 tokens)
    assert "batch 4, 8,192 tokens" in (remote_relaunch(tmp_path, "max_duration=8192tok") or "")
    assert remote_relaunch(tmp_path, "max_duration=8193tok") is None
    assert not list(tmp_path.glob("**/*.pt"))  # downloaded into a temporary folder, removed


def test_a_remote_sharded_checkpoint_is_checked_by_batch(
    s3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    put_checkpoint(s3, 2)
    newest = put_checkpoint(s3, 6, sharded=True)  # the newer of the two symlinks wins
    line = remote_relaunch(tmp_path, "max_duration=6ba")
    assert line is not None and line.startswith(
        f"run debug-cpu has finished: batch 6, at {newest} "
    )
    # pretraining: packed shards, 8 x 256 tokens a batch, so batch 6 is 12,288 tokens exactly
    line = remote_relaunch(tmp_path, "max_duration=12288tok")
    assert line is not None and "batch 6, 12,288 tokens" in line
    assert remote_relaunch(tmp_path, "max_duration=12289tok") is None
    with caplog.at_level(logging.WARNING, logger="biomedlm.relaunch"):
        assert remote_relaunch(tmp_path, "max_duration=2sp") is None  # neither batches nor tokens
    assert "checked for having finished by batch only" in caplog.text


def test_an_unreachable_bucket_is_one_warning(
    s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    put_checkpoint(s3, 4)
    remote_relaunch(tmp_path, "max_duration=8ba")  # records the run while the bucket is there
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with caplog.at_level(logging.WARNING, logger="biomedlm.relaunch"):
        assert remote_relaunch(tmp_path, "max_duration=4ba") is None
    (message,) = [r.getMessage() for r in caplog.records if r.name == "biomedlm.relaunch"]
    assert message.startswith(f"cannot read the latest checkpoint of {CHECKPOINTS} (")
    assert "\n" not in message


@pytest.mark.slow
def test_relaunching_a_finished_or_changed_remote_run(s3, tmp_path: Path) -> None:
    """End to end: the same command after the run finished, then with another learning rate."""
    assert len(launch(tmp_path, 2)) == 2
    again = run_debug(
        tmp_path,
        "max_duration=2ba",
        *remote_overrides(tmp_path),
        cwd=tmp_path,
    )
    (line,) = [x for x in again.splitlines() if "has finished" in x]
    assert line.startswith("run debug-cpu has finished: batch 2, at s3://")
    assert "Traceback" not in again and "Train loss" not in again
    faster = run_training(
        debug_command(
            tmp_path, "max_duration=2ba", *remote_overrides(tmp_path), "optimizer.lr=0.001"
        ),
        timeout=300,
        cwd=tmp_path,
    )
    assert faster.returncode == 2
    assert "error: optimizer.lr (0.003 -> 0.001)" in faster.stderr
    assert "Traceback" not in faster.stderr
