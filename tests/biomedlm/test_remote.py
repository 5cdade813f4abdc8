"""Remote data and checkpoints through S3, against a loopback S3 server (moto): no network.

The recipe streams its shards from ``s3://`` into a local cache, saves its checkpoints to
``s3://``, and each relaunch of the same command resumes from the bucket's latest checkpoint
(autoresume; see ``biomedlm.autoresume`` for the stale local copy Composer would use instead).
Runs in a scratch working directory: Composer downloads into ``./s3:/...``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.biomedlm import debug_runs
from tests.biomedlm.debug_runs import REPO, losses, run_debug

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
