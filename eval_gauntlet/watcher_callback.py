"""Score every checkpoint of a training run as it lands, in a process of its own.

Registered as llm-foundry's ``gauntlet_watcher`` callback (an entry point in pyproject.toml)::

    callbacks:
      hf_checkpointer: {save_folder: runs/RUN/hf, save_interval: 10000ba, precision: bfloat16}
      gauntlet_watcher:
        folder: runs/RUN/hf/huggingface   # hf_checkpointer's exports, or the trainer's save_folder
        out: runs/RUN/eval
        device: cpu                       # or a GPU no training rank uses, e.g. cuda:7
        sample: 100                       # items per task (default: all)
        threads: 8                        # CPU threads for scoring, the rest left to training
        tasks_file: [my_tasks.yaml]       # --tasks-file, each (default: the shipped catalogue)
        fewshot_source: {medqa_4options: data/medqa/train.jsonl}   # --fewshot-source TASK=PATH
        softmax_dtype: float32            # --softmax-dtype: float32 or model
        no_gold_text: false               # --no-gold-text: no cloze pass, no gold_text_bpb
        dtype: auto                       # --dtype: weights as saved, or float32/bfloat16/float16
        # samples: {pubmedqa: [0, 5, 9]}  # --samples (lm-eval's task -> item indices), not with sample

When the recipe loads, ``folder`` is checked against where its checkpointers write
(:meth:`GauntletWatcher.validate_folders`). At FIT_START, global rank 0 checks again that a
checkpointer of this run writes ``folder`` and that
``device`` is not a training rank's GPU, announces its process in ``OUT/trainer.json``, and
starts ``python -m eval_gauntlet watch`` with a command line built from :class:`WatchConfig`
(tokens per step from the trainer's state). The watcher holds ``OUT/watcher.lock``, scores each
checkpoint once, as it lands, for as long as this process trains (no idle timeout), then scores
what remains and exits; when the run is relaunched while it still works, it follows the
relaunch. Training never waits for it: the two meet only through the checkpoint folder.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from composer.core import Callback, State
from composer.loggers import Logger
from composer.utils import dist

from eval_gauntlet.watch_lock import Trainer, announce, is_free

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchConfig:
    """What ``python -m eval_gauntlet watch`` is run with: one field per command-line option."""

    folder: str
    out: str
    device: str = "cpu"
    tasks: tuple[str, ...] | None = None
    sample: int | None = None
    limit: int | None = None
    shots: int | None = None
    batch_size: int = 8
    seed: int = 1234
    settle: float = 5.0
    interval: float = 10.0
    broken_after: float = 600.0
    threads: int | None = None
    trust_checkpoint: bool = False
    tokens_per_step: int | None = None  # from the trainer's state at FIT_START
    trainer_pid: int | None = None
    tasks_file: tuple[str, ...] | None = None  # each becomes a --tasks-file, merged in order
    fewshot_source: tuple[str, ...] | None = None  # each TASK=PATH a --fewshot-source
    softmax_dtype: str = "float32"
    no_gold_text: bool = False  # --no-gold-text
    dtype: str = "auto"
    samples: str | None = None  # --samples: JSON text or a file

    def __post_init__(self) -> None:
        import torch

        from eval_gauntlet.errors import GauntletError
        from eval_gauntlet.scoring import DTYPES, SOFTMAX_DTYPES
        from eval_gauntlet.tasks import (
            DEFAULT_TASKS_FILE,
            load_tasks,
            read_samples,
            select_tasks,
            with_fewshot_sources,
        )

        try:
            torch.device(self.device)
        except (RuntimeError, ValueError):
            raise ValueError(
                f"gauntlet_watcher.device: {self.device!r} is not cpu, cuda:N"
            ) from None
        for name in ("sample", "limit", "batch_size", "threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"gauntlet_watcher.{name}: must be >= 1")
        for key, allowed in (("softmax_dtype", SOFTMAX_DTYPES), ("dtype", DTYPES)):
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"gauntlet_watcher.{key}: {getattr(self, key)!r}; "
                    f"expected one of {', '.join(allowed)}"
                )
        if self.samples is not None and (self.sample is not None or self.limit is not None):
            raise ValueError(
                "gauntlet_watcher.samples: names the items to score; drop sample/limit"
            )
        # task files, few-shot files and task names checked now, not in the watcher's log
        key = "tasks_file"
        try:
            catalogue = load_tasks(list(self.tasks_file or [DEFAULT_TASKS_FILE]))
            key = "fewshot_source"
            catalogue = with_fewshot_sources(catalogue, self.fewshot_source or ())
            key = "tasks"
            selected = select_tasks(catalogue, list(self.tasks) if self.tasks else None)
            key = "samples"
            if self.samples is not None:
                read_samples(self.samples, catalogue, selected)
        except GauntletError as exc:
            raise ValueError(f"gauntlet_watcher.{key}: {exc}") from None

    def argv(self) -> list[str]:
        """The watcher's command line: each field set becomes ``--field-name value``."""
        cmd = [sys.executable, "-m", "eval_gauntlet", "watch", self.folder, "--no-progress"]
        for spec in fields(self):
            value = getattr(self, spec.name)
            flag = "--" + spec.name.replace("_", "-")
            if spec.name == "folder" or value is None or value is False:
                continue
            if value is True:
                cmd.append(flag)
            elif spec.name in _REPEATED:
                cmd += [part for item in value for part in (flag, item)]
            elif isinstance(value, tuple):
                cmd += [flag, *value]
            else:
                cmd += [flag, str(value)]
        return cmd


_REPEATED = ("tasks_file", "fewshot_source")  # flags given once per value (argparse "append")


def _strings(values: Sequence[str] | None) -> tuple[str, ...] | None:
    return tuple(str(value) for value in values) if values else None


def _samples_spec(samples: str | Mapping[str, Sequence[int]] | None) -> str | None:
    """``--samples``'s value: a file or JSON text as given, or a mapping from YAML as JSON."""
    if samples is None or isinstance(samples, str):
        return samples
    return json.dumps({str(task): list(indices) for task, indices in samples.items()})


def _fewshot_specs(sources: Mapping[str, str] | Sequence[str] | None) -> tuple[str, ...] | None:
    """``TASK=PATH`` strings from a mapping ``{TASK: PATH}`` or a list of ``TASK=PATH``."""
    if not sources:
        return None
    if isinstance(sources, Mapping):
        return tuple(f"{task}={path}" for task, path in sources.items())
    if isinstance(sources, str):
        return (sources,)
    return tuple(str(spec) for spec in sources)


class GauntletWatcher(Callback):
    """Start the gauntlet's watcher beside training (global rank 0, one per results folder)."""

    def __init__(
        self,
        folder: str,
        out: str,
        device: str = "cpu",
        tasks: list[str] | None = None,
        sample: int | None = None,
        limit: int | None = None,
        shots: int | None = None,
        batch_size: int = 8,
        seed: int = 1234,
        settle: float = 5.0,
        interval: float = 10.0,
        broken_after: float = 600.0,
        threads: int = 8,
        trust_checkpoint: bool = False,
        tasks_file: str | Sequence[str] | None = None,
        fewshot_source: Mapping[str, str] | Sequence[str] | None = None,
        softmax_dtype: str = "float32",
        no_gold_text: bool = False,
        dtype: str = "auto",
        samples: str | Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        self.config = WatchConfig(
            folder=str(folder),
            out=str(out),
            device=device,
            tasks=tuple(tasks) if tasks else None,
            sample=sample,
            limit=limit,
            shots=shots,
            batch_size=batch_size,
            seed=seed,
            settle=settle,
            interval=interval,
            broken_after=broken_after,
            threads=threads,
            trust_checkpoint=trust_checkpoint,
            tasks_file=(tasks_file,) if isinstance(tasks_file, str) else _strings(tasks_file),
            fewshot_source=_fewshot_specs(fewshot_source),
            softmax_dtype=softmax_dtype,
            no_gold_text=no_gold_text,
            dtype=dtype,
            samples=_samples_spec(samples),
        )
        self.out = Path(out)
        self.process: subprocess.Popen[bytes] | None = None
        self.trainer: Trainer | None = None

    @classmethod
    def validate(cls, **kwargs: Any) -> None:
        """Check the arguments as a recipe loads (biomedlm's strict check), before launch.

        Building the callback only builds its :class:`WatchConfig` (no process, no file).
        """
        cls(**kwargs)

    @classmethod
    def validate_folders(cls, writers: Mapping[str, str], **kwargs: Any) -> None:
        """``folder`` is one the recipe's checkpointers write (``writers``: name -> folder).

        Checked as the recipe loads, before the model is built; FIT_START checks it again against
        the checkpointers the trainer really has.
        """
        _check_fed(Path(kwargs["folder"]), {name: Path(f) for name, f in writers.items()})

    def fit_start(self, state: State, logger: Logger) -> None:
        if dist.get_global_rank() != 0:
            return
        _check_fed(Path(self.config.folder), _feeding(state))
        _check_device(self.config.device, state)
        self.trainer = Trainer.of(os.getpid())
        self.out.mkdir(parents=True, exist_ok=True)
        announce(self.out, self.trainer)  # before looking at the lock: see watch_lock
        if self.process is not None and self.process.poll() is None:
            return  # a second fit() of this trainer: its watcher still serves it
        if not is_free(self.out):
            log.info("a gauntlet watcher already holds %s: it follows this run", self.out)
            return
        config = WatchConfig(
            **{spec.name: getattr(self.config, spec.name) for spec in fields(WatchConfig)}
            | {"tokens_per_step": tokens_per_step(state), "trainer_pid": self.trainer.pid}
        )
        Path(config.folder).mkdir(parents=True, exist_ok=True)
        with open(self.out / "watcher.log", "ab") as log_file:
            self.process = subprocess.Popen(
                config.argv(), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        log.info(
            "gauntlet watcher started (pid %d), log %s", self.process.pid, self.out / "watcher.log"
        )

    def post_close(self) -> None:
        if self.trainer is not None:  # training is over: the watcher scores what remains, exits
            announce(self.out, Trainer(self.trainer.pid, self.trainer.start, ended=True))


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
    import torch
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
