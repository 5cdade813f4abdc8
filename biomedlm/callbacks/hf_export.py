"""llm-foundry's ``hf_checkpointer``, registered under its own name, with two changes that every
export (pretraining's and ``finetune_export``'s) needs:

- a local export is written into ``.<name>.partial`` and renamed to ``<name>`` when whole: a crash
  mid-export left a partial folder under the final name, which a reader took for an export;
- the export's files get the modes the umask allows: safetensors writes ``model.safetensors``
  0600, which a group member (or a gauntlet watcher run by another account) could not read.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from composer.core import State
from composer.loggers import Logger
from composer.utils import dist, format_name_with_dist_and_time
from llmfoundry.callbacks.hf_checkpointer import HuggingFaceCheckpointer

from data_prep.files import follow_umask

log = logging.getLogger(__name__)
NAME = "hf_checkpointer"  # llm-foundry's registered name, kept
PARTIAL = ".partial"  # suffix of an export being written: .<name>.partial
FOLDER_NAME = "ba{batch}"  # hf_checkpointer's default huggingface_folder_name


class HfExport(HuggingFaceCheckpointer):
    """``hf_checkpointer`` whose local exports appear whole, with the modes the umask allows."""

    huggingface_folder_name_fstr: str  # hf_checkpointer's: huggingface/ba{batch}

    def _save_checkpoint(
        self, state: State, logger: Logger, upload_to_save_folder: bool, register_to_mlflow: bool
    ) -> None:
        """``hf_checkpointer``'s save into ``.<name>.partial``, renamed to ``<name>`` when whole.

        Uploaded exports (file by file) and ones registered to MLflow (a process llm-foundry
        starts reads the folder after this returns) are written in place, as llm-foundry does.
        """
        if self.remote_ud is not None or register_to_mlflow:
            super()._save_checkpoint(state, logger, upload_to_save_folder, register_to_mlflow)
            return
        name_fstr = self.huggingface_folder_name_fstr
        final = Path(
            format_name_with_dist_and_time(
                os.path.join(self.save_dir_format_str, name_fstr), state.run_name, state.timestamp
            )
        )
        scratch = final.with_name(f".{final.name}{PARTIAL}")
        leader = dist.get_global_rank() == 0
        if leader and final.parent.is_dir():  # exports a crash cut off
            for stale in final.parent.glob(f".*{PARTIAL}"):
                shutil.rmtree(stale, ignore_errors=True)
        literal = scratch.name.replace("{", "{{").replace("}", "}}")
        self.huggingface_folder_name_fstr = os.path.join(os.path.dirname(name_fstr), literal)
        try:
            super()._save_checkpoint(state, logger, upload_to_save_folder, register_to_mlflow)
        except BaseException:
            if leader:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        finally:
            self.huggingface_folder_name_fstr = name_fstr
        if leader and scratch.is_dir():
            old = final.with_name(f".{final.name}.old{PARTIAL}")  # a crash leaves it to clean up
            if final.exists():  # this batch's export again (a relaunch that completes it)
                os.replace(final, old)  # out of the way at once: removing it takes a while
            os.replace(scratch, final)
            shutil.rmtree(old, ignore_errors=True)
            log.info("export: %s", final)
        dist.barrier()  # every rank goes on with the export under its name

    def save_additional_contents(self, state: State, logger: Logger, save_dir: str) -> None:
        """Called by llm-foundry on rank 0 once the weights and tokenizer are in ``save_dir``."""
        super().save_additional_contents(state, logger, save_dir)
        follow_umask(Path(save_dir))


def register() -> None:
    """Build :class:`HfExport` wherever a recipe names ``hf_checkpointer`` (this process)."""
    from llmfoundry import registry

    registry.callbacks.register(NAME, func=HfExport)
