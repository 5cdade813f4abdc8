"""Remote data and checkpoints through S3, against a loopback S3 server (moto): no network.

The recipe streams its shards from ``s3://`` into a local cache, saves its checkpoints to
``s3://``, and each relaunch of the same command resumes from the bucket's latest checkpoint
(autoresume; see ``biomedlm.autoresume`` for the stale local copy Composer would use instead).
Runs in a scratch working directory: Composer downloads into ``./s3:/...``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from biomedlm.foundry_config import to_foundry
from biomedlm.preflight import preflight
from biomedlm.recipe import Recipe, RecipeError, load_recipe
from tests.biomedlm import debug_runs
from tests.biomedlm.debug_runs import DEBUG, REPO, data_overrides, losses, run_debug

BUCKET = "biomedlm-test"


@pytest.fixture
def s3(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A loopback S3 holding the prepared shards under ``s3://biomedlm-test/pubmed``."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
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


def launch(tmp_path: Path, batches: int) -> list[float]:
    return losses(
        run_debug(
            tmp_path,
            f"max_duration={batches}ba",
            "eval_interval=2ba",
            "save_interval=2ba",
            f"train_loader.streams.pubmed.remote=s3://{BUCKET}/pubmed",
            f"train_loader.streams.pubmed.local={tmp_path / 'cache' / 'train'}",
            f"eval_loader.streams.pubmed.remote=s3://{BUCKET}/pubmed",
            f"eval_loader.streams.pubmed.local={tmp_path / 'cache' / 'eval'}",
            f"save_folder=s3://{BUCKET}/runs/debug/checkpoints",
            f"tokenizer.path={debug_runs.DATA / 'tokenizer'}",
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
