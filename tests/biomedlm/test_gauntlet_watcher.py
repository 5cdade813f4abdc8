"""The training-side hook starts one gauntlet watcher beside training, which scores the exports."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

from biomedlm.callbacks.gauntlet_watcher import GauntletWatcher
from tests.eval_gauntlet.tiny import tiny_model, train_tokenizer


def test_starts_one_watcher_that_scores_each_export(tmp_path: Path) -> None:
    exports = tmp_path / "hf" / "huggingface"
    tiny = tiny_model(tmp_path / "tiny", train_tokenizer(tmp_path / "tok"))
    shutil.copytree(tiny, exports / "ba5")
    old = time.time() - 60
    for f in (exports / "ba5").iterdir():
        os.utime(f, (old, old))
    hook = GauntletWatcher(
        folder=str(exports),
        out=str(tmp_path / "eval"),
        tokens_per_step=10,
        idle_timeout=3,
        args=[
            "--tasks",
            "medqa_4options",
            "--sample",
            "4",
            "--shots",
            "0",
            "--settle",
            "0.5",
            "--interval",
            "0.5",
        ],
    )
    state = SimpleNamespace()
    hook.fit_start(state, None)  # type: ignore[arg-type]
    assert hook.process is not None
    again = GauntletWatcher(folder=str(exports), out=str(tmp_path / "eval"))
    again.fit_start(state, None)  # type: ignore[arg-type]
    assert again.process is None  # the first watcher is still alive: no second one
    assert hook.process.wait(timeout=120) == 0
    rows = [
        json.loads(line) for line in (tmp_path / "eval" / "results.jsonl").read_text().splitlines()
    ]
    assert {(r["checkpoint"], r["kind"]) for r in rows} >= {("ba5", "task"), ("ba5", "average")}
    assert all(r["tokens"] == 50 for r in rows if r["kind"] == "task")
