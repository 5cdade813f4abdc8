"""Scores of fine-tuned models, as ``kind: finetune`` rows of the gauntlet's results."""
