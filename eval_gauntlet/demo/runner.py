"""Stages run one after another as subprocesses: each one's output in its log, two lines on the console.

The console also gets the warnings a stage printed (the entry points silence the known harmless
ones, so what is left may matter); a stage that fails shows the end of its log and stops the run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

TAIL = 20  # lines of a failed stage's log shown
SHOWN_WARNINGS = 5  # distinct warnings shown per stage; the others are counted
# a warning as Python prints it: "path/to/module.py:LINE: SomeWarning: message"
WARNING = re.compile(r"^(?P<where>\S[^:]*:\d+): (?P<category>\w*Warning): (?P<message>.*)$")


@dataclass(frozen=True)
class Stage:
    """One command of the run, and what it is for."""

    name: str  # its log is <logs>/<name>.log
    does: str  # what it does, on its start line
    argv: tuple[str, ...]
    makes: str  # what it made and where, on its end line


def duration(seconds: float) -> str:
    """``42 s``, ``2 min 05 s``."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def warnings_in(log: Path) -> list[str]:
    """The distinct warnings a stage's log holds, one line each: ``Category: message (where)``."""
    seen: dict[tuple[str, str], str] = {}
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            found = WARNING.match(line.rstrip("\n"))
            if found:
                key = (found["category"], found["message"])
                seen.setdefault(key, f"{key[0]}: {key[1]} ({found['where']})")
    return list(seen.values())


def _run(stage: Stage, log: Path | None) -> int:
    """The stage's exit status; its output goes to ``log`` (None: to this console)."""
    if log is None:
        return subprocess.run(stage.argv, check=False).returncode
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        out.write(f"$ {shlex.join(stage.argv)}\n")
        out.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # stdout and stderr in the order written
        return subprocess.run(
            stage.argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=False
        ).returncode


def run_stages(stages: Sequence[Stage], logs: Path | None, out: TextIO) -> int:
    """Run ``stages`` in order (output in ``logs``, None: the console); 0, or the failure's status."""
    for number, stage in enumerate(stages, start=1):
        tag = f"[{number}/{len(stages)}] {stage.name}:"
        indent = " " * (len(f"[{number}/{len(stages)}]") + 1)
        out.write(f"{tag} {stage.does}\n")
        out.flush()
        log = None if logs is None else logs / f"{stage.name}.log"
        start = time.monotonic()
        status = _run(stage, log)
        took = duration(time.monotonic() - start)
        where = f"; log {log}" if log is not None else ""
        if status == 0:
            out.write(f"{tag} done in {took}: {stage.makes}{where}\n")
        else:
            out.write(f"{tag} FAILED (exit status {status}) after {took}{where}\n")
        if log is not None:
            found = warnings_in(log)
            for line in found[:SHOWN_WARNINGS]:
                out.write(f"{indent}warning: {line[:300]}\n")
            if len(found) > SHOWN_WARNINGS:
                out.write(f"{indent}... and {len(found) - SHOWN_WARNINGS} more warnings in {log}\n")
            if status != 0:
                lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
                out.write(f"{indent}the end of {log}:\n")
                out.writelines(f"{indent}| {line}\n" for line in lines[-TAIL:])
        out.flush()
        if status != 0:
            return status if status > 0 else 128 - status  # killed by a signal: 128 + its number
    return 0
