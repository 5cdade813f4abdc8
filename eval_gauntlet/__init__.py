"""In-context evaluation of biomedical LMs: MedQA, PubMedQA and MMLU's medical subjects.

Tasks are data (``tasks.yaml`` + JSONL in ``data/``); prompts and scoring follow
lm-evaluation-harness 0.4.13; the aggregation is llm-foundry's gauntlet. Run
``python -m eval_gauntlet --help``.
"""
