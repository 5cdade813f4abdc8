"""``--sample``: a seeded random subset, because the shipped files are sorted by answer."""

from __future__ import annotations

from collections import Counter

from eval_gauntlet.evaluate import plan
from eval_gauntlet.options import Options
from eval_gauntlet.tasks import load_tasks, select_tasks


def items(options: Options) -> list[tuple[int, str]]:
    (planned,) = [
        p for p in plan(select_tasks(load_tasks(), ["pubmedqa"]), options) if p.shots == 0
    ]
    return [(p.item.gold, p.context) for p in planned.prompts]


def golds(options: Options) -> list[int]:
    return [gold for gold, _ in items(options)]


def test_sample_is_seeded_and_covers_every_answer() -> None:
    first = golds(Options(limit=100, shots=0))
    sampled = golds(Options(sample=100, shots=0))
    assert len(sampled) == 100 and len(Counter(first)) == 1  # the first 100 are all "yes"
    assert len(Counter(sampled)) == 3  # yes, no and maybe all appear
    assert sampled == golds(Options(sample=100, shots=0))
    assert items(Options(sample=100, shots=0, seed=7)) != items(Options(sample=100, shots=0))
