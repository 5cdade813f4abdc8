"""The gauntlet's error type for bad user input: one line naming the file (and line or key)."""

from __future__ import annotations


class GauntletError(ValueError):
    """A task file, data row, model directory or option the gauntlet cannot use.

    The message is one line that names where the problem is, e.g.
    ``data/medqa.jsonl:17: answer_idx 'E' is not among the options A, B, C, D``.
    """


class UnreadableCheckpoint(GauntletError):
    """A checkpoint or model folder that cannot be loaded (missing, half-written, mismatched)."""
