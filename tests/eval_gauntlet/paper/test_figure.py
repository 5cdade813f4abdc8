"""paper.png draws every value of the table inside its axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure

from eval_gauntlet.paper.figure import plot_paper


def test_a_value_below_chance_is_drawn_inside_the_axes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gauntlet's average is rescaled above chance: negative below it."""
    drawn: list[Figure] = []
    savefig = Figure.savefig

    def keep(fig: Figure, *args: Any, **kwargs: Any) -> None:
        drawn.append(fig)
        savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    entries = [
        {"name": "In-context gauntlet", "published": None, "value": -6.7, "ci95": [-9.5, -3.0]},
        {"name": "PubMedQA (test)", "published": 74.4, "value": 41.0, "ci95": [30.0, 52.0]},
    ]
    plot_paper(entries, tmp_path / "paper.png", demo=True)
    low, high = drawn[0].axes[0].get_xlim()
    assert low <= -9.5 and high == 100
    assert (tmp_path / "paper.png").stat().st_size > 0
