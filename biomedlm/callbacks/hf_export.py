"""llm-foundry's ``hf_checkpointer`` whose exports follow the umask, as every other output does:
safetensors writes ``model.safetensors`` 0600, which a group member (or a gauntlet watcher run
by another account) could not read. Registered under llm-foundry's own name.
"""

from __future__ import annotations

from pathlib import Path

from composer.core import State
from composer.loggers import Logger
from llmfoundry.callbacks.hf_checkpointer import HuggingFaceCheckpointer

from data_prep.files import follow_umask

NAME = "hf_checkpointer"  # llm-foundry's registered name, kept


class UmaskExport(HuggingFaceCheckpointer):
    """``hf_checkpointer`` whose export folders get the modes the umask allows."""

    def save_additional_contents(self, state: State, logger: Logger, save_dir: str) -> None:
        """Called by llm-foundry on rank 0 once the weights and tokenizer are in ``save_dir``."""
        super().save_additional_contents(state, logger, save_dir)
        follow_umask(Path(save_dir))


def register() -> None:
    """Build :class:`UmaskExport` wherever a recipe names ``hf_checkpointer`` (this process)."""
    from llmfoundry import registry

    registry.callbacks.register(NAME, func=UmaskExport)
