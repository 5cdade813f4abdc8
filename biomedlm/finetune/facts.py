"""What a fine-tune's launch found out, handed to its family's translation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FinetuneFacts:
    init_folder: Path  # a Hugging Face folder with model.init_from's weights
    tokenizer_dir: Path  # the tokenizer to start from (tokenizer.path, else the weights')
    on_gpu: bool
    n_positions: int  # the weights' context length
