"""``results.jsonl``: the one store of in-context and fine-tuned rows, and where predictions go.

The file gains whole lines only (:func:`append_rows`, under a lock, a cut-off last line
repaired); readers take the latest row of each key (:func:`latest_rows`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from biomedlm.trained.names import safe_name
from data_prep.files import write_text_atomic
from eval_gauntlet.errors import GauntletError

log = logging.getLogger(__name__)
RESULTS = "results.jsonl"
TABLE = "results.md"
PLOT = "results.png"
PREDICTIONS = "predictions"
SAMPLES = "samples"  # generation's pages of examples, beside its predictions
GAUNTLET_KINDS = ("task", "group", "category", "average")  # the in-context rows
FINETUNE = "finetune"  # a fine-tuned model's metric: finetune_rows


@dataclass(frozen=True)
class Checkpoint:
    """Which model the results are for; step and tokens when the caller knows them."""

    name: str
    step: int | None = None
    tokens: int | None = None


def result_row(checkpoint: Checkpoint, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    """A results.jsonl line: when, which checkpoint, what ``kind`` of result, then ``fields``."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": checkpoint.name,
        "step": checkpoint.step,
        "tokens": checkpoint.tokens,
        "kind": kind,
        "task": name,
        **fields,
    }


def append_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append ``rows`` as whole lines in one write, under an exclusive ``flock`` (appenders in other
    processes take turns); a partial last line is repaired first.
    """
    data = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as out:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        _repair_tail(path, out)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def repair_rows(path: Path) -> None:
    """Drop a partial last line of a JSONL file (a writer killed mid-line), with one log line."""
    if path.is_file():
        append_rows(path, [])


def _repair_tail(path: Path, out: BinaryIO) -> None:
    """Make ``out`` end with a newline: a cut-off last line is truncated, a whole one ended."""
    if out.seek(0, os.SEEK_END) == 0:
        return
    with mmap.mmap(out.fileno(), 0, access=mmap.ACCESS_READ) as view:
        if view[-1:] == b"\n":
            return
        start = view.rfind(b"\n") + 1  # just after the last newline (0 when there is none)
        tail = view[start:]
    try:
        json.loads(tail)
    except ValueError:
        os.ftruncate(out.fileno(), start)
        log.warning(
            "%s: dropped a partial last line (%d bytes, an interrupted write)", path, len(tail)
        )
    else:  # a whole row whose newline was not written
        out.write(b"\n")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a ``results.jsonl``; a cut-off last line ignored, another bad one an error."""
    rows = []
    with path.open(encoding="utf-8", errors="surrogateescape") as lines:
        for line_no, line in enumerate(lines, start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):  # the last line, cut off: the next append drops it
                    log.warning(
                        "%s:%d: ignoring a partial last line (an interrupted write)", path, line_no
                    )
                    break
                raise GauntletError(f"{path}:{line_no}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):  # valid JSON, but no row: a hand edit
                raise GauntletError(
                    f"{path}:{line_no}: a result row is a JSON object, not {type(row).__name__}; "
                    "remove or mend that line"
                )
            rows.append(row)
    return rows


def rows_of(out_dir: Path) -> list[dict[str, Any]]:
    """Every row of ``out_dir``'s results (none before it has any)."""
    path = out_dir / RESULTS
    return read_rows(path) if path.is_file() else []


def latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row for each (checkpoint, kind, task, shots, split, metric), in first order."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # re-assigning a key keeps its first position
        key = tuple(row.get(k) for k in ("checkpoint", "kind", "task", "shots", "split", "metric"))
        latest[json.dumps(key, default=str)] = row
    return list(latest.values())


def write_jsonl(
    path: Path, records: Iterable[dict[str, Any]], *, ensure_ascii: bool = True
) -> Path:
    """Per-example records as JSON lines at ``path``, written to a temporary name and renamed."""
    text = "".join(json.dumps(record, ensure_ascii=ensure_ascii) + "\n" for record in records)
    write_text_atomic(path, text)
    return path


def predictions_path(
    out_dir: Path, checkpoint: Checkpoint, file_name: str, *, under: str = PREDICTIONS
) -> Path:
    """Where a checkpoint's per-example predictions (or ``under=SAMPLES``, sample pages) go."""
    return out_dir / under / safe_name(checkpoint.name) / file_name


def keep_by_step(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` naming copies of their predictions and sample pages in ``ba<step>/`` beside them:
    a run's after-fit score is named after the run, so a relaunch that trains further scores
    again under that name and replaces the files; each step's copy stays for its rows (its own
    files alone), and its rows name it."""
    written: set[Path] = set()  # a generation score's metric rows name one file
    kept = []
    for row in rows:
        row = dict(row)
        for key in ("predictions", "samples"):
            if row.get(key):
                path = Path(row[key])
                copy = path.parent / f"ba{row['step']}" / path.name
                if copy not in written:
                    write_text_atomic(copy, path.read_text(encoding="utf-8"))
                    written.add(copy)
                row[key] = str(copy)
        kept.append(row)
    return kept


@dataclass(frozen=True)
class MetricValue:
    """One metric of a fine-tuned model on one split, with its bootstrap 95% interval."""

    name: str  # acc, rouge1, rouge2, rougeL, ...
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    scale: float | None = None  # the value's full scale where not 0-1 (ROUGE, BLEU: 100)
    aggregation: str | None = None  # how the corpus value is made, where it is not a mean


def finetune_rows(
    checkpoint: Checkpoint,
    *,
    task: str,
    metrics: Sequence[MetricValue],
    run: str | None = None,
    **fields: Any,
) -> list[dict[str, Any]]:
    """The results rows of one scored split (``fields``: its split, family, n...), one per metric."""
    return [
        result_row(
            checkpoint,
            FINETUNE,
            task,
            shots=None,
            metric=m.name,
            value=m.value,
            ci95=[m.ci_low, m.ci_high],
            run=run,
            **fields,
            **{key: value for key in ("scale", "aggregation") if (value := getattr(m, key))},
        )
        for m in metrics
    ]
