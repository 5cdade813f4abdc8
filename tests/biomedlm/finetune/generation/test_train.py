"""Generation fine-tuning end to end on CPU: it learns, its LoRA exports load.

Each test launches ``python -m biomedlm.train`` on the CPU demo recipe pointed at a tiny model
and a synthetic copy task (``w1 w2 w3 w4`` -> ``w1 w2 w3 w4``): the plumbing (rows, the
separator, target-only loss, EOS, decoding, scoring) must all be right for the model to answer
test sequences it never saw exactly. The kill -9 and relaunch of every fine-tuning family, with
and without LoRA, is in ``test_finetune_runs.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.fixtures.data import copy_task
from tests.fixtures.paths import REPO
from tests.fixtures.runs import GENERATION_DEBUG, jsonl_overrides

pytestmark = pytest.mark.slow
FAST = ["save_folder=null", "autoresume=false", "eval_interval=1000ba", "model.dropout=0.0",
        "callbacks.finetune_export.save_interval=1000ba", "eval.bootstrap_iters=100",
        "eval.decoding.strategy=greedy", "eval.decoding.max_new_tokens=8",
        "eval.decoding.batch_size=32"]  # fmt: skip


def command(run: Path, model: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "biomedlm.train", str(GENERATION_DEBUG),
            *jsonl_overrides(run, model, data, *extra)]  # fmt: skip


def train(run: Path, model: Path, data: Path, *extra: str) -> str:
    result = subprocess.run(
        command(run, model, data, *extra), cwd=REPO, capture_output=True, text=True,
        timeout=400, env={**os.environ, "OMP_NUM_THREADS": "1"},  # tiny model: one thread
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


@pytest.fixture(scope="module")
def copy_data(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("copy") / "copy.jsonl"
    return copy_task(path, AutoTokenizer.from_pretrained(tiny_dir), 3000)


def test_a_tiny_model_learns_to_copy_and_generates_the_targets_exactly(
    tiny_dir: Path, copy_data: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    train(run, tiny_dir, copy_data, *FAST, "max_duration=200ba", "global_train_batch_size=32",
          "device_train_microbatch_size=32", "optimizer.lr=3.0e-3",
          "data.split={validation: 0.0, test: 0.02, seed: 0}")  # fmt: skip
    rows = {
        r["metric"]: r
        for r in map(json.loads, (run / "eval/results.jsonl").read_text().splitlines())
    }
    assert rows["rougeL"]["value"] >= 95.0 and rows["rougeL"]["n"] >= 40  # 0-100, as the scripts
    predictions = [
        json.loads(x)
        for x in (run / "eval/predictions/patient-qa-debug-cpu/copy.test.jsonl")
        .read_text()
        .splitlines()
    ]
    exact = sum(p["generated"] == p["reference"] for p in predictions) / len(predictions)
    assert exact >= 0.95, [p for p in predictions if p["generated"] != p["reference"]][:3]
    train_sources = {
        json.loads(x)["source"] for x in (run / "data/train.jsonl").read_text().splitlines()
    }
    assert not train_sources & {p["source"] for p in predictions}  # never seen in training


def logits(model: Any, tokenizer: Any) -> torch.Tensor:
    ids = tokenizer("his her gen ass<|startoftext|>", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(ids).logits


def test_lora_trains_adapters_only_and_both_exports_load_to_the_same_model(
    tiny_dir: Path, copy_data: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    from biomedlm.trained.kinds import kind_of
    from biomedlm.trained.load import load

    lora = ["model.lora={r: 4, alpha: 8, dropout: 0.0}", "max_duration=6ba", "optimizer.lr=1.0e-2",
            "data.split={validation: 0.0, test: 0.02, seed: 0}", "data.test_limit=8",
            "save_folder=null", "autoresume=false", "eval_interval=1000ba", "model.dropout=0.0",
            "callbacks.finetune_export.save_interval=3ba", "eval.decoding.strategy=greedy",
            "eval.decoding.max_new_tokens=6", "eval.bootstrap_iters=50"]  # fmt: skip
    out = train(tmp_path / "merged", tiny_dir, copy_data, *lora)  # exports at ba3 and ba6
    assert "export: LoRA adapters merged into the weights" in out
    train(tmp_path / "adapters", tiny_dir, copy_data, *lora, "model.lora.export=adapters",
          "eval.test_after_fit=false")  # fmt: skip
    merged_dir = tmp_path / "merged" / "hf" / "huggingface" / "ba6"
    adapters_dir = tmp_path / "adapters" / "hf" / "huggingface" / "ba6"
    assert kind_of(adapters_dir) == "adapters" and kind_of(merged_dir) == "hf_folder"
    saved = load_file(adapters_dir / "adapter_model.safetensors")
    assert saved and all("lora_" in k or "wte" in k or "lm_head" in k for k in saved)
    exported = load(merged_dir)
    merged, tokenizer = exported.model, exported.tokenizer
    rebuilt = load(adapters_dir).model
    rows = merged.get_input_embeddings().weight.shape[0]
    assert rows % 64 == 0 and rows >= len(tokenizer) == 1001  # the separator's row
    base = load(tiny_dir).model
    moved = {k for k, v in merged.state_dict().items() if k in base.state_dict()
             and v.shape == base.state_dict()[k].shape and not torch.equal(v, base.state_dict()[k])}  # fmt: skip
    assert moved and all(
        k.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")) for k in moved
    )
    torch.testing.assert_close(logits(merged.eval(), tokenizer), logits(rebuilt.eval(), tokenizer))
    # exporting never merged into the weights still training: what the live model answered
    # after fit is what the final export answers
    from biomedlm.decoding import DecodingConfig
    from biomedlm.generate import complete
    from biomedlm.generation_layout import SEPARATOR

    scored = [json.loads(x) for x in (tmp_path / "merged/eval/predictions/patient-qa-debug-cpu/copy.test.jsonl")
              .read_text().splitlines()]  # fmt: skip
    again = complete(merged, tokenizer, [p["source"] for p in scored],
                     DecodingConfig(strategy="greedy", max_new_tokens=6), separator=SEPARATOR)  # fmt: skip
    assert again == [p["generated"] for p in scored]


@pytest.mark.world_size(2)
def test_two_processes_fsdp2_fine_tune_and_score_like_one_process_on_the_export(
    tiny_dir: Path, copy_data: Path, tmp_path: Path
) -> None:
    """FSDP2 over gloo: the after-fit answers (each rank its share, beam search through FSDP's
    gathered weights) are those one process gives from the export of the same weights."""
    import yaml

    from biomedlm.decoding import DecodingConfig
    from biomedlm.generate import complete
    from biomedlm.generation_layout import SEPARATOR
    from biomedlm.trained.load import load
    from tests.fixtures.runs import composer

    fsdp = yaml.safe_load((REPO / "recipes/finetune/patient-qa.yaml").read_text())["fsdp_config"]
    run = tmp_path / "run"
    result = subprocess.run(
        [*composer(2), str(GENERATION_DEBUG), *jsonl_overrides(run, tiny_dir, copy_data),
         "data.split={validation: 0.0, test: 0.01, seed: 0}", "max_duration=4ba",
         "save_interval=4ba", "eval_interval=1000ba", f"fsdp_config={yaml.safe_dump(fsdp, default_flow_style=True, width=1000).strip()}",
         "eval.decoding.max_new_tokens=6"],
        cwd=REPO, capture_output=True, text=True, timeout=400,
        env={**os.environ, "OMP_NUM_THREADS": "1", "FSDP_VERSION": "2"},
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    scored = [
        json.loads(x)
        for x in (run / "eval/predictions/patient-qa-debug-cpu/copy.test.jsonl")
        .read_text()
        .splitlines()
    ]
    assert len(scored) >= 20
    trained = load(run / "hf" / "huggingface" / "ba4")
    model, tokenizer = trained.model, trained.tokenizer
    recipe_decoding = DecodingConfig(strategy="beam", num_beams=3, no_repeat_ngram_size=6,
                                     max_new_tokens=6)  # the demo recipe's, as overridden  # fmt: skip
    again = complete(
        model, tokenizer, [p["source"] for p in scored], recipe_decoding, separator=SEPARATOR
    )
    assert again == [p["generated"] for p in scored]
