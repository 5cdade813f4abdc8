"""Scores of fine-tuned models: the test split after fit, or any file later, in the gauntlet's results.

Fine-tuned and in-context numbers sit in one ``results.jsonl`` / ``results.md`` / ``results.png``:
a fine-tuned score is a ``kind: finetune`` row per metric (:mod:`eval_gauntlet.finetuned.rows`).
"""
