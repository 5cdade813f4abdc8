"""The debug recipe launched from the tests: a run's folders under one directory, its losses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAIN = [sys.executable, "-m", "biomedlm.train"]
DEBUG = REPO / "recipes" / "pretrain" / "debug-cpu.yaml"
DATA: Path | None = None  # the session's prepared sample (the `prepared` fixture sets it)


def data_overrides(data: Path | None = None) -> list[str]:
    """The debug recipe pointed at the session's prepared data instead of outputs/prep/sample."""
    data = data or DATA
    assert data is not None, "the `prepared` fixture prepares the data first"
    return [
        f"tokenizer.path={data / 'tokenizer'}",
        f"train_loader.streams.pubmed.local={data}",
        f"eval_loader.streams.pubmed.local={data}",
    ]


def composer(processes: int) -> list[str]:
    """Composer's launcher, as users call it: ``composer -n N train``."""
    return [str(Path(sys.executable).with_name("composer")), "-n", str(processes), "train"]


def debug_command(out: Path, *overrides: str, launcher: list[str] = TRAIN) -> list[str]:
    """The debug recipe with every output under ``out`` and a loss line per batch."""
    return [
        *launcher,
        str(DEBUG),
        *data_overrides(),
        f"run_dir={out / 'run'}",
        f"callbacks.hf_checkpointer.save_folder={out / 'hf'}",
        f"callbacks.loss_curve.folder={out / 'run'}",
        "progress_bar=false",
        "log_to_console=true",
        "console_log_interval=1ba",
        *overrides,
    ]


def losses(output: str) -> list[float]:
    """The training loss of each batch, from the console log."""
    return [
        float(line.rsplit(":", 1)[1])
        for line in output.splitlines()
        if "Train loss/train/total:" in line
    ]


def run_debug(
    out: Path,
    *overrides: str,
    launcher: list[str] = TRAIN,
    env: dict[str, str] | None = None,
    timeout: float = 400,
    cwd: Path = REPO,
) -> str:
    """Run the debug recipe to completion; its console output (the run must succeed)."""
    result = subprocess.run(
        debug_command(out, *overrides, launcher=launcher),
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output
