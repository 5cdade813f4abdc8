"""Scores of fine-tuned models: the test split after fit, or any file later, in the gauntlet's results.

Fine-tuned and in-context numbers sit in one ``results.jsonl`` / ``results.md`` / ``results.png``:
a fine-tuned score is a ``kind: finetune`` row per metric (:mod:`eval_gauntlet.finetuned.rows`).

- :mod:`.scoring`: the dispatch per task family (``load`` and ``score`` of each family's module);
- :mod:`.choice`: multiple choice and classification (accuracy, bootstrap interval, predictions);
- :mod:`.callback`: ``finetune_eval``, the test sets scored once after training, on every rank;
- :mod:`.cli`: ``python -m eval_gauntlet finetuned CHECKPOINT RECIPE [key=value ...]``.
"""
