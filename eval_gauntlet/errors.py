"""The gauntlet's error type for bad user input: one line naming the file (and line or key)."""

from __future__ import annotations


class GauntletError(ValueError):
    """Bad input as one line naming where: ``data/medqa.jsonl:17: answer_idx 'E' is not ...``."""


class UnreadableCheckpoint(GauntletError):
    """A checkpoint or model folder that cannot be loaded (missing, half-written, mismatched)."""
