"""``bench-prep`` runs each step in a child process: the child imports the benchmarks package."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.bench_prep import run_step


def test_a_step_runs_in_its_own_process(tmp_path: Path, tokenizer_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    texts = ["Aspirin lowers fever.", "The patient was given insulin."]
    (corpus / "part00.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    result = run_step("ceiling", corpus, tokenizer_dir, tmp_path)
    assert result["tokens"] > len(texts)  # each text's tokens and its EOS
    assert result["peak_mb"] > 0
