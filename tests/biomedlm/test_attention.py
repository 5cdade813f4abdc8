"""The attention a GPT-2 config means (``biomedlm.attention``): the released BioMedLM divides each
layer's attention scores by its index + 1 (``scale_attn_by_inverse_layer_idx``), which this
transformers applies in eager attention only; every reader of a model computes what eager does,
through SDPA given each layer's scale (``scaled_sdpa``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from biomedlm.attention import SCALED_SDPA, _say_why, attention_for, drops_layer_scale
from tests.fixtures.models import lr0_run
from tests.fixtures.released import released_replica

TEXT = "Aspirin irreversibly inhibits cyclooxygenase in platelets, reducing thromboxane."


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The released layout, 2 small layers, its config's flag set as released."""
    return released_replica(tmp_path_factory.mktemp("replica"))


def _ids(folder: Path) -> Any:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return torch.tensor([tokenizer(TEXT)["input_ids"]])


def _eager_logits(folder: Path, ids: Any) -> Any:
    """Plain transformers in eager attention: the flag applied, as the model was trained."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.no_grad():
        return model(ids).logits


def test_every_reader_of_the_released_layout_computes_eager_attention(
    replica: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoTokenizer

    from biomedlm.model import BioMedLM
    from biomedlm.trained.load import load

    ids = _ids(replica)
    reference = _eager_logits(replica, ids)
    tokenizer = AutoTokenizer.from_pretrained(replica, local_files_only=True)
    checkpoint = lr0_run(replica, tmp_path / "ckpt") / "ep0-ba1-rank0.pt"  # the same weights
    init = BioMedLM(tokenizer, init_from=str(replica)).eval()  # the recipes' attention: sdpa
    with torch.no_grad():
        found = {
            "trained.load (folder)": load(replica).model(ids).logits,
            "trained.load (Composer)": load(checkpoint).model(ids).logits,
            "init_from": init({"input_ids": ids, "attention_mask": torch.ones_like(ids)}).logits,
        }
    gaps = {
        k: (v[..., : reference.shape[-1]] - reference).abs().max().item() for k, v in found.items()
    }
    assert max(gaps.values()) < 1e-5, gaps


def test_the_choice_model_of_the_released_layout_scales_its_layers(replica: Path) -> None:
    from transformers import AutoTokenizer

    from biomedlm.finetune.choice.model import ChoiceModel

    tokenizer = AutoTokenizer.from_pretrained(replica, local_files_only=True)
    tokenizer.pad_token = tokenizer.eos_token
    model = ChoiceModel(tokenizer, str(replica), "multiple_choice")
    assert model.model.config._attn_implementation == SCALED_SDPA


def test_a_question_and_options_padded_past_the_positions_score_as_each_alone() -> None:
    """``make demo``'s MedQA fine-tune failed in eager attention: the shared layout pads the
    question and the options to the batch's widest, and eager's causal mask has ``n_positions``
    keys. Each option scored with the question's cache equals it scored in one plain pass."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config

    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=16, vocab_size=40,
                        scale_attn_by_inverse_layer_idx=True)  # fmt: skip
    torch.manual_seed(0)
    eager = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    model = AutoModelForCausalLM.from_config(
        config, attn_implementation=attention_for(config, "sdpa")
    )
    model.load_state_dict(eager.state_dict())
    question, option = torch.randint(0, 40, (1, 12)), torch.randint(0, 40, (1, 3))
    # the question right-padded to 12 + 3 = 15 real tokens, its row 14 wide: 14 + 3 > 16 keys
    padded = torch.cat([question, torch.zeros(1, 2, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 12), torch.zeros(1, 2)], dim=1).long()
    with torch.no_grad():
        cache = model.eval()(padded, attention_mask=mask, use_cache=True).past_key_values
        shared = model(
            option, attention_mask=torch.cat([mask, torch.ones(1, 3).long()], dim=1),
            position_ids=torch.arange(12, 15)[None], past_key_values=cache,
        ).logits  # fmt: skip
        alone = eager(torch.cat([question, option], dim=1)).logits[:, 12:]
    assert (shared - alone).abs().max() < 1e-5


@pytest.mark.parametrize("requested", ["sdpa", "flash_attention_2", None])
def test_a_config_without_the_flag_keeps_the_attention_asked_for(requested: str | None) -> None:
    from transformers import GPT2Config

    assert attention_for(GPT2Config(), requested) == requested


def test_eager_asked_for_stays_eager_and_the_flag_moves_the_others_to_scaled_sdpa(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import transformers
    from transformers import GPT2Config

    scaled = GPT2Config(scale_attn_by_inverse_layer_idx=True)
    assert attention_for(scaled, "eager") == "eager" and not caplog.records
    _say_why.cache_clear()  # said once a process: an earlier test may have said it
    with caplog.at_level("INFO", logger="biomedlm.attention"):
        assert attention_for(scaled, "sdpa") == SCALED_SDPA
        assert attention_for(scaled, "sdpa") == SCALED_SDPA  # the next checkpoint: said once
    (record,) = caplog.records
    assert "scale_attn_by_inverse_layer_idx" in record.message
    assert transformers.__version__ in record.message


def test_the_probe_finds_that_sdpa_drops_the_flag_on_this_transformers() -> None:
    """The negative control: without eager, the flag changes nothing here (transformers 4.51;
    huggingface/transformers#44397 fixes it)."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config

    assert drops_layer_scale()
    ids = torch.arange(8)[None]
    logits = []
    for flag in (True, False):
        config = GPT2Config(
            n_layer=2, n_embd=16, n_head=2, n_positions=8, vocab_size=16,
            initializer_range=1.0, scale_attn_by_inverse_layer_idx=flag,
        )  # fmt: skip
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
        with torch.no_grad():
            logits.append(model(ids).logits)
    assert torch.equal(*logits)


def test_init_device_meta_builds_through_llm_foundry_with_the_probe_not_yet_run(
    tokenizer_dir: Path,
) -> None:
    """The 2.7B recipe's ``init_device: meta``: llm-foundry builds the model inside
    ``init_empty_weights``, where the first model built runs the probe."""
    from llmfoundry.utils.builders import build_composer_model
    from llmfoundry.utils.config_utils import process_init_device
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    cfg = {"n_layers": 2, "d_model": 64, "n_heads": 2, "max_seq_len": 32, "init_device": "meta",
           "attn_implementation": "sdpa"}  # fmt: skip
    context = process_init_device(cfg, {"sharding_strategy": "FULL_SHARD"}, None)
    drops_layer_scale.cache_clear()
    model = build_composer_model(
        name="biomedlm", cfg=cfg, tokenizer=tokenizer, init_context=context
    )
    assert next(model.parameters()).is_meta
    assert model.model.config._attn_implementation == SCALED_SDPA
    assert drops_layer_scale()  # the answer cached under meta init is the one outside it
