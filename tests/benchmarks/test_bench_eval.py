"""``bench-eval``'s token counts on a toy catalogue whose floor is known (its trie's nodes)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from transformers import AutoTokenizer

from eval_gauntlet.evaluate import plan
from eval_gauntlet.options import Options
from eval_gauntlet.tasks import load_tasks
from tests.fixtures.paths import DATA, REPO


def toy_catalogue(folder: Path) -> Path:
    """Three MMLU anatomy questions, 0- and 2-shot from two fixed dev examples (first_n)."""
    for name, rows in (("test", 3), ("dev", 2)):
        with (DATA / f"mmlu_medical_{name}.jsonl").open() as lines:
            kept = itertools.islice((line for line in lines if '"anatomy"' in line), rows)
            (folder / f"{name}.jsonl").write_text("".join(kept))
    path = folder / "tasks.yaml"
    path.write_text(
        "tasks:\n  toy:\n    data: test.jsonl\n    format: mmlu\n    subject: anatomy\n"
        "    num_fewshot: [0, 2]\n    fewshot_source: dev.jsonl\n    fewshot_sampler: first_n\n"
        "    random_baseline: 0.25\n    category: medical_knowledge\n"
    )
    return path


def prefixes(tokenizer, prompts) -> set[tuple[int, ...]]:
    """The trie's nodes: every distinct non-empty prefix of every scored input (each choice
    after its context, and the cloze prompt's gold text), none truncated here."""
    pairs = [(p.context, c) for p in prompts for c in p.continuations]
    pairs += [p.gold_text for p in prompts]
    inputs = [tuple(tokenizer(context + text)["input_ids"][:-1]) for context, text in pairs]
    return {seq[:end] for seq in inputs for end in range(1, len(seq) + 1)}


def test_counts_report_the_trie_floor_and_the_tokens_forwarded(
    tiny_dir: Path, tmp_path: Path
) -> None:
    tasks = toy_catalogue(tmp_path)
    out = tmp_path / "eval.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_eval", str(tiny_dir),
         "--parts", "counts", "--tasks-file", str(tasks), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(out.read_text())["counts"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    zero, two = plan(list(load_tasks(tasks).values()), Options())
    nodes = [prefixes(tokenizer, p.prompts) for p in (zero, two)]
    assert counts["floor"] == len(nodes[0]) + len(nodes[1])  # per benchmark, summed
    assert counts["floor_catalogue_wide"] == len(nodes[0] | nodes[1])
    assert counts["items"] == 6 and counts["benchmarks"] == 2
    # the two dev examples are shared by the three 2-shot prompts: far under the windows' sum
    assert counts["floor"] < 0.7 * counts["distinct_windows"]
    assert counts["floor"] <= counts["tokens"] <= counts["positions"]
