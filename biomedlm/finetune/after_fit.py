"""A fine-tune's work after its last checkpoint (export, test scores), completed by a relaunch.

Composer writes the final checkpoint before the export and the after-fit scoring, so a crash
in either left a "finished" run without them. ``finetune_after_fit``, the last callback, records
that work as done (``<run_dir>/after_fit.json``); a relaunch missing the export or that record
loads the final checkpoint, runs the missing callbacks' own code on every rank and stops with
:class:`AfterFitCompleted`, without training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import dist

from biomedlm.finetune.export import (
    AFTER_FIT_CALLBACK,
    EXPORT_CALLBACK,
    SCORING_CALLBACK,
    FinetuneExport,
    export_folder,
)
from biomedlm.relaunch import AfterFitCompleted, AfterFitWork, Finished
from biomedlm.trained.load import Progress
from data_prep.files import write_text_atomic

RECORD = "after_fit.json"
EXPORT, SCORES = "export", "scores"  # what may be missing


def missing(recipe: Any, progress: Progress) -> dict[str, str]:
    """What a finished fine-tune (stopped at ``progress``) lacks: ``{"export"|"scores": what}``."""
    found: dict[str, str] = {}
    args = (recipe.callbacks or {}).get(EXPORT_CALLBACK)
    folder = export_folder(dict(args), recipe.run_name, progress) if args is not None else None
    if folder is not None and not folder.is_dir():
        found[EXPORT] = f"the export {folder}"
    done: int | None  # the batch whose after-fit work the run recorded as done
    try:
        done = int(json.loads((Path(recipe.run_dir) / RECORD).read_text())["batch"])
    except (OSError, ValueError, KeyError, TypeError):
        done = None
    if recipe.eval.test_after_fit and done != progress.batch:
        found[SCORES] = f"the test scores in {recipe.eval.out} (eval.test_after_fit)"
    return found


class AfterFit(Callback):
    """Records the after-fit work as done; with ``complete``, does what is missing and stops."""

    def __init__(self, run_dir: str, complete: list[str] | None = None) -> None:
        unknown = set(complete or []) - {EXPORT, SCORES}
        if unknown:
            raise ValueError(f"complete: {sorted(unknown)} are not among {[EXPORT, SCORES]}")
        self.run_dir = Path(run_dir)
        self.complete = list(complete or [])

    def fit_end(self, state: State, logger: Logger) -> None:
        self._record(state)

    def after_load(self, state: State, logger: Logger) -> None:
        if not self.complete:
            return
        from llmfoundry.registry import callbacks as registered

        scoring = registered.get(SCORING_CALLBACK)
        for callback in state.callbacks:  # the export first, then the scoring, as after fit
            if EXPORT in self.complete and isinstance(callback, FinetuneExport):
                callback._save_checkpoint(
                    state, logger, upload_to_save_folder=True, register_to_mlflow=False
                )
        for callback in state.callbacks:
            if SCORES in self.complete and isinstance(callback, scoring):
                callback.fit_end(state, logger)
        self._record(state)
        raise AfterFitCompleted(
            f"run {state.run_name}: completed its after-fit work at batch "
            f"{int(state.timestamp.batch)} ({', '.join(self.complete)}); nothing was trained"
        )

    def _record(self, state: State) -> None:
        if dist.get_global_rank() != 0:
            return
        write_text_atomic(
            self.run_dir / RECORD, json.dumps({"batch": int(state.timestamp.batch)}) + "\n"
        )


def after_fit_work(recipe: Any, finished: Finished) -> AfterFitWork | None:
    """What a ``finished`` fine-tune lacks of its after-fit work, to complete (None: nothing), and
    the line a relaunch prints before completing it."""
    what = missing(recipe, finished.progress)
    if not what:
        return None
    scores = (
        f" (the scores alone: python -m eval_gauntlet finetuned --name {recipe.run_name} "
        f"{finished.checkpoint} {Path(recipe.run_dir) / 'recipe.yaml'})"
        if SCORES in what
        else ""
    )
    line = (
        f"run {recipe.run_name} has finished at batch {finished.progress.batch} "
        f"({finished.checkpoint}), but {' and '.join(what.values())} "
        f"{'are' if len(what) > 1 else 'is'} missing (a crash after the last checkpoint): "
        f"completing {'them' if len(what) > 1 else 'it'} from that checkpoint, without "
        f"training{scores}"
    )

    def complete(cfg: dict[str, Any]) -> None:  # llm-foundry's config, to complete ``what``
        cfg["callbacks"][AFTER_FIT_CALLBACK]["complete"] = list(what)

    return AfterFitWork(line, complete)
