"""Remote data and checkpoints through S3, against a loopback S3 server (moto): no network.

The recipe streams its shards from ``s3://`` into a local cache, saves its checkpoints to
``s3://``, and a relaunch of the same command resumes from the bucket (autoresume).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
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
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "biomedlm.train",
            "recipes/pretrain/debug-cpu.yaml",
            f"max_duration={batches}ba",
            "eval_interval=2ba",
            "save_interval=2ba",
            f"train_loader.streams.pubmed.remote=s3://{BUCKET}/pubmed",
            f"train_loader.streams.pubmed.local={tmp_path / 'cache' / 'train'}",
            f"eval_loader.streams.pubmed.remote=s3://{BUCKET}/pubmed",
            f"eval_loader.streams.pubmed.local={tmp_path / 'cache' / 'eval'}",
            f"save_folder=s3://{BUCKET}/runs/debug/checkpoints",
            f"run_dir={tmp_path / 'run'}",
            f"callbacks.hf_checkpointer.save_folder={tmp_path / 'hf'}",
            f"callbacks.loss_curve.folder={tmp_path / 'run'}",
            "progress_bar=false",
            "log_to_console=true",
            "console_log_interval=1ba",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return [
        float(line.rsplit(":", 1)[1])
        for line in output.splitlines()
        if "Train loss/train/total:" in line
    ]


@pytest.mark.slow
def test_s3_data_and_checkpoints_with_autoresume(s3, tmp_path: Path) -> None:
    assert len(launch(tmp_path, 2)) == 2
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert "runs/debug/checkpoints/ep0-ba2-rank0.pt" in keys
    assert list((tmp_path / "cache" / "train" / "train").glob("*.mds"))  # streamed from S3
    assert len(launch(tmp_path, 4)) == 2  # resumed from the bucket: batches 3 and 4 only
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert "runs/debug/checkpoints/ep0-ba4-rank0.pt" in keys
