"""Golden numbers: the debug recipe's first losses, as recorded on this project's CPU machines.

The recipe, the data prep of the shipped sample (its tokenizer, split and packing), the model's
initialisation, the data order, dropout and the optimizer all feed these numbers: a change in any
of them moves them by far more than the tolerance, which only absorbs float summation order
(thread counts, CPU instruction sets). When a change is meant to move them, record the new ones
here and say why in the commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from biomedlm.callbacks.loss_curve import read_rows
from tests.fixtures.runs import run_debug

# recipes/pretrain/debug-cpu.yaml on recipes/data/sample.yaml, torch 2.7.0 CPU, fp32; with
# scale_attn_by_inverse_layer_idx (eager attention), which moved them by at most 2.5e-5 (at
# initialisation's small weights the layer scale barely matters; tests/biomedlm/test_attention.py
# checks the attention itself)
GOLDEN_TRAIN = [10.003199, 10.016609, 10.010978, 9.912272, 9.739794]
GOLDEN_EVAL = 9.605699
TOLERANCE = 1e-3


@pytest.mark.slow
def test_the_debug_recipes_first_losses(tmp_path: Path) -> None:
    run_debug(tmp_path, "max_duration=5ba", "eval_interval=5ba", "save_interval=5ba")
    rows = read_rows(tmp_path / "run" / "loss.csv")
    train = [float(r["loss"]) for r in rows if r["split"] == "train"]
    (evaluated,) = [float(r["loss"]) for r in rows if r["split"] == "eval"]
    assert train == pytest.approx(GOLDEN_TRAIN, abs=TOLERANCE)
    assert evaluated == pytest.approx(GOLDEN_EVAL, abs=TOLERANCE)
