"""``gauntlet_watcher``: score every checkpoint of a training run as it lands, in a process of its own.

An llm-foundry callback (entry point in pyproject.toml) whose arguments are the gauntlet's
options (:mod:`eval_gauntlet.options`, checked as the recipe loads). At FIT_START global rank 0
checks ``folder`` and ``device`` against the trainer, announces itself in ``OUT/trainer.json``
and starts ``python -m eval_gauntlet watch`` (:mod:`eval_gauntlet.watch_lock`); training never
waits for it (docs/evaluation.md, "Beside training").
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import dist

from eval_gauntlet.options import (
    CALLBACK,
    CALLBACK_NAMING,
    WATCH,
    callback_signature,
    command_line,
    from_given,
)
from eval_gauntlet.tasks import select
from eval_gauntlet.watch_lock import Trainer, announce, is_free

log = logging.getLogger(__name__)


class GauntletWatcher(Callback):
    """Start the gauntlet's watcher beside training (global rank 0, one per results folder)."""

    def __init__(self, **options: Any) -> None:  # the signature: callback_signature()
        self.options = from_given(options, CALLBACK, CALLBACK_NAMING)
        try:
            torch.device(self.options.device or "")
        except (RuntimeError, ValueError):
            raise CALLBACK_NAMING.error(
                "device", f"{self.options.device!r} is not cpu, cuda:N"
            ) from None
        select(self.options, CALLBACK_NAMING)  # task files and names checked now, not in its log
        self.out = self.options.out
        self.process: subprocess.Popen[bytes] | None = None
        self.trainer: Trainer | None = None

    @classmethod
    def validate(cls, **kwargs: Any) -> None:
        """Check the arguments as a recipe loads (biomedlm's strict check): no process, no file."""
        cls(**kwargs)

    @classmethod
    def validate_folders(cls, writers: Mapping[str, str], **kwargs: Any) -> None:
        """``folder`` is one the recipe's checkpointers write (``writers``: name -> folder)."""
        _check_fed(Path(kwargs["folder"]), {name: Path(f) for name, f in writers.items()})

    def fit_start(self, state: State, logger: Logger) -> None:
        if dist.get_global_rank() != 0:
            return
        assert self.options.folder is not None and self.options.device is not None  # required
        _check_fed(self.options.folder, _feeding(state))
        _check_device(self.options.device, state)
        self.trainer = Trainer.of(os.getpid())
        self.out.mkdir(parents=True, exist_ok=True)
        announce(self.out, self.trainer)  # before looking at the lock: see watch_lock
        if self.process is not None and self.process.poll() is None:
            return  # a second fit() of this trainer: its watcher still serves it
        if not is_free(self.out):
            log.info("a gauntlet watcher already holds %s: it follows this run", self.out)
            return
        options = replace(
            self.options,
            tokens_per_step=tokens_per_step(state),
            trainer_pid=self.trainer.pid,
            no_progress=True,
        )
        self.options.folder.mkdir(parents=True, exist_ok=True)
        with open(self.out / "watcher.log", "ab") as log_file:
            self.process = subprocess.Popen(
                command_line(options, WATCH),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.info(
            "gauntlet watcher started (pid %d), log %s", self.process.pid, self.out / "watcher.log"
        )

    def post_close(self) -> None:
        if self.trainer is not None:  # training is over: the watcher scores what remains, exits
            announce(self.out, Trainer(self.trainer.pid, self.trainer.start, ended=True))


_init: Any = GauntletWatcher.__init__  # a keyword per option: a misspelt key fails as it loads
_init.__signature__, _init.__annotations__ = callback_signature(CALLBACK)


def tokens_per_step(state: State) -> int | None:
    """Tokens in one batch: as Composer counted them so far, else global batch x sequence."""
    batches, tokens = int(state.timestamp.batch), int(state.timestamp.token)
    if batches > 0 and tokens > 0:
        return tokens // batches
    loader: Any = state.train_dataloader
    batch = getattr(loader, "batch_size", None)
    seq = getattr(getattr(loader, "dataset", None), "max_seq_len", None)
    return int(batch) * dist.get_world_size() * int(seq) if batch and seq else None


def _feeding(state: State) -> dict[str, Path]:
    """Where this run's checkpointers write: the trainer's save_folder, hf_checkpointer's exports."""
    from composer.callbacks import CheckpointSaver
    from composer.utils import format_name_with_dist
    from llmfoundry.callbacks import HuggingFaceCheckpointer

    found = {}
    for callback in state.callbacks:
        if isinstance(callback, CheckpointSaver):
            found["save_folder"] = format_name_with_dist(callback.folder, state.run_name)
        elif isinstance(callback, HuggingFaceCheckpointer) and callback.remote_ud is None:
            exports = Path(callback.save_dir_format_str) / callback.huggingface_folder_name_fstr
            found["hf_checkpointer"] = format_name_with_dist(str(exports.parent), state.run_name)
    return {name: Path(folder) for name, folder in found.items()}


def _check_fed(folder: Path, feeding: Mapping[str, Path]) -> None:
    """``folder`` is one of ``feeding``'s (checkpointer -> the folder it writes)."""
    if any(folder.resolve() == fed.resolve() for fed in feeding.values()):
        return
    writers = "; ".join(f"{name} writes {fed}" for name, fed in feeding.items())
    raise ValueError(
        f"gauntlet_watcher.folder: no checkpointer of this run writes {folder} "
        f"({writers or 'no save_folder and no hf_checkpointer configured'}); "
        "set folder to one of those"
    )


def _check_device(device: str, state: State) -> None:
    """Refuse a GPU that is not there, or that a training rank of this node uses."""
    from composer.devices import DeviceGPU

    parsed = torch.device(device)
    if parsed.type != "cuda":
        return
    index = parsed.index or 0
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index >= visible:
        raise ValueError(
            f"gauntlet_watcher.device: {device} but this node has {visible} visible GPU(s); "
            "use device: cpu"
        )
    ranks = dist.get_local_world_size() if isinstance(state.device, DeviceGPU) else 0
    if index < ranks:
        raise ValueError(
            f"gauntlet_watcher.device: {device} is the GPU of training rank {index} on this node "
            f"(its ranks use cuda:0..cuda:{ranks - 1}); scoring there would slow training down. "
            "Use device: cpu, or a GPU no rank uses"
        )
