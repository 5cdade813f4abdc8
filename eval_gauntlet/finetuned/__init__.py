"""Scores of fine-tuned models (after fit, or a saved one later), as ``kind: finetune`` rows of
the gauntlet's results (docs/fine-tuning.md).
"""
