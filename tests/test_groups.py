"""The suite's one worker for the tests that open shards (tests/conftest.py) holds only while
pytest-xdist's ``--dist loadgroup`` keeps a group together under the pinned pytest. pytest 9.2
moved a test's id to where xdist 3.8 no longer appends the group, and every group was silently
spread over both workers: two StreamingDatasets then met on one machine (mosaicml/streaming#884)
and CI failed one run in a few."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GROUPED = """
import os, time
import pytest

@pytest.mark.xdist_group("streaming")
@pytest.mark.parametrize("n", range(6))
def test_grouped(n):
    time.sleep(0.2)
    with open(os.path.join(os.environ["RECORD"], f"grouped-{n}"), "w") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"])

@pytest.mark.parametrize("n", range(6))
def test_free(n):
    time.sleep(0.2)
    with open(os.path.join(os.environ["RECORD"], f"free-{n}"), "w") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_a_group_runs_on_one_worker_as_make_test_runs_it(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # this folder is the root: no addopts
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    record = tmp_path / "record"
    record.mkdir()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, "-n", "2", "--dist", "loadgroup", "test_grouped.py"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "RECORD": str(record)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    workers = {f.name: f.read_text() for f in record.iterdir()}
    grouped = {w for name, w in workers.items() if name.startswith("grouped-")}
    assert len(workers) == 12 and len(grouped) == 1, workers
    assert set(workers.values()) == {"gw0", "gw1"}, (
        workers
    )  # both workers ran: the check could fail
