"""Benchmark release formats and the task catalogue (``tasks.yaml``, ``data/``): the base
data_prep and eval_gauntlet share."""
