"""Benchmark release formats and the task catalogue: the base data_prep and eval_gauntlet share.

It imports only ``strict_config`` and third-party packages. ``tasks.yaml`` and ``data/`` are
the shipped catalogue (``include: default``).
"""
