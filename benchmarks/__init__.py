"""Benchmarks: figures printed against a reference measured in the same run, nothing asserted.

Run each as a module from the repository root, ``python -m benchmarks.bench_eval --help``, or
through ``make bench`` (docs/benchmarks.md).
"""
