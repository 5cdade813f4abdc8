"""Hand every checkpoint to the evaluation gauntlet without making training wait.

Registered as the ``gauntlet_watcher`` callback::

    callbacks:
      hf_checkpointer: {save_folder: runs/debug-cpu/hf, save_interval: 20ba}
      gauntlet_watcher:
        folder: runs/debug-cpu/hf/huggingface   # hf_checkpointer's ba<step>, or the save_folder
        out: runs/debug-cpu/eval
        args: [--sample, "100"]
        # tokens_per_step: global batch x sequence length, filled in from the recipe

At the start of training, rank 0 starts ``python -m eval_gauntlet watch`` as a separate process
(unless one from an earlier launch of this run is still alive: a pid file guards it). The
watcher scores each export once, as it lands, and exits after ``idle_timeout`` seconds without a
new checkpoint; training never waits for it. The two meet only through the export folder.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import dist

log = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class GauntletWatcher(Callback):
    """Start the gauntlet's watcher beside training (rank 0 only, at most one per run)."""

    def __init__(
        self,
        folder: str,
        out: str,
        tokens_per_step: int | None = None,
        idle_timeout: float = 1800.0,
        args: list[str] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.out = Path(out)
        self.tokens_per_step = tokens_per_step
        self.idle_timeout = idle_timeout
        self.args = [str(a) for a in (args or [])]
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "eval_gauntlet",
            "watch",
            str(self.folder),
            "--out",
            str(self.out),
            "--idle-timeout",
            str(self.idle_timeout),
            "--no-progress",
        ]
        if self.tokens_per_step:
            cmd += ["--tokens-per-step", str(self.tokens_per_step)]
        return cmd + self.args

    def fit_start(self, state: State, logger: Logger) -> None:
        if dist.get_global_rank() != 0:
            return
        pid_file = self.out / "watcher.pid"
        if pid_file.is_file() and _alive(int(pid_file.read_text() or 0)):
            log.info("gauntlet watcher already running (pid %s)", pid_file.read_text())
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        log_file = open(self.out / "watcher.log", "ab")  # noqa: SIM115 (owned by the child)
        self.process = subprocess.Popen(
            self.command(), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        pid_file.write_text(str(self.process.pid))
        log.info(
            "gauntlet watcher started (pid %d), log %s", self.process.pid, self.out / "watcher.log"
        )
