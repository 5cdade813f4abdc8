"""One launch per run folder: a second launch of the same command stops at once, naming the first;
a lock left by a killed launch is taken over; only rank 0 of a multi-process launch takes it."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from biomedlm.run_lock import run_lock
from biomedlm.settings import RecipeError
from tests.fixtures.paths import REPO
from tests.fixtures.runs import STREAMING_PREFIX_RACE, debug_command


def wait_for_record(lock: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until ``proc`` has written its record into ``lock`` (it holds the lock)."""
    deadline = time.time() + 120
    while not (lock.is_file() and lock.read_text().strip()):
        assert proc.poll() is None and time.time() < deadline, "it never took the lock"
        time.sleep(0.05)


def test_only_rank_0_takes_the_lock_and_a_refused_launch_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    with run_lock(run_dir):
        refused = pytest.raises(
            RecipeError, match=rf"^run_dir: another launch \(pid {os.getpid()} "
        )
        with refused, run_lock(run_dir):
            pass
        monkeypatch.setenv("RANK", "1")  # another process of the same launch
        with run_lock(run_dir):
            pass
        monkeypatch.setenv("RANK", "0")
    assert not run_dir.exists()  # created by the lock, nothing written in it: removed
    run_dir.mkdir()
    (run_dir / "recipe.yaml").write_text("{}")
    with run_lock(run_dir):
        pass
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock", "recipe.yaml"]


def test_the_lock_of_a_killed_launch_is_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "launches").mkdir(parents=True)
    lock = run_dir / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from data_prep.lock import exclusive; "
         f"cm = exclusive(Path({str(lock)!r})); cm.__enter__(); time.sleep(600)"],
        cwd=REPO,
    )  # fmt: skip
    wait_for_record(lock, holder)
    with (
        pytest.raises(RecipeError, match=rf"another launch \(pid {holder.pid} on"),
        run_lock(run_dir),
    ):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with caplog.at_level(logging.WARNING, logger="biomedlm.run_lock"), run_lock(run_dir):
        assert lock.read_text().split() == [str(os.getpid()), socket.gethostname()]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "biomedlm.run_lock"]
    assert (
        f"took over the lock of an earlier launch (pid {holder.pid} on {socket.gethostname()})"
        in line
    )
    assert lock.read_text() == ""  # let go cleanly: no record for the next launch to take over


@pytest.mark.slow
def test_a_second_launch_of_the_same_command_stops_at_once_naming_the_first(
    tmp_path: Path,
) -> None:
    for attempt in (1, 2):  # once more if the first met the streaming prefix race (run_training)
        out = tmp_path / str(attempt)
        command = debug_command(out, f"save_folder={out / 'ckpt'}", "max_duration=20ba")
        with (out.parent / f"{out.name}.log").open("w") as log:
            first = subprocess.Popen(
                command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for_record(out / "run" / ".lock", first)
            second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
            went_on = first.poll() is None  # the first launch goes on
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        raced = STREAMING_PREFIX_RACE.search((out.parent / f"{out.name}.log").read_text())
        if went_on or attempt == 2 or not raced:
            break
    assert went_on
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: run_dir: another launch (pid {first.pid} on {socket.gethostname()}) is "
        f"training in {out / 'run'}; wait for it to finish, stop it, or give this run "
        "another run_dir (or run_name)"
    )
