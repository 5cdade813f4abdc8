"""Weights in and out: every init_from kind starts alike; exports (LoRA merged or not) reload exactly.

- ``model.init_from`` as a Hugging Face folder, a Composer checkpoint file or a sharded folder
  gives the same initial loss on the same batch;
- weights whose embedding cannot hold their tokenizer, and a ``tokenizer.path`` of another
  vocabulary (same size), are refused at launch in one line; tokens added on top are not;
- the added tokens grow the embedding (rows padded to 64) and the Hugging Face export, with its
  tokenizer, reloads with ``AutoModelForSequenceClassification`` to the same predictions; an
  export that fails midway leaves nothing under its name; what a finished run lacks of its
  after-fit work (export, scores) is found;
- LoRA trains only the adapters, the task head and the added tokens' rows; its merged export,
  its adapters export and its Composer checkpoint each reload to the same predictions.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from biomedlm.finetune.choice.model import ChoiceModel
from biomedlm.finetune.export import FinetuneExport
from tests.fixtures.checkpoints import composer_checkpoint, sharded_checkpoint
from tests.fixtures.choice import batches, build_model, tokenizer_for, train
from tests.fixtures.tokenizers import swapped_ids

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_init_from_kind_gives_the_same_initial_loss(tiny_dir: Path, tmp_path: Path) -> None:
    from biomedlm.init_weights import hf_folder

    checkpoint = composer_checkpoint(tiny_dir, tmp_path / "ckpt")
    sharded = sharded_checkpoint(checkpoint, tmp_path / "ep0-ba1")
    tokenizer = tokenizer_for("multiple_choice", tiny_dir, tmp_path)
    batch = batches("multiple_choice", tokenizer, tmp_path)[0]
    losses = []
    for source in (tiny_dir, checkpoint, sharded):
        folder = hf_folder(str(source), tmp_path / "init")
        model = build_model("multiple_choice", folder, tokenizer, seed=0)
        losses.append(float(model.loss(model(batch), batch)))
    assert folder != tiny_dir and losses[0] == pytest.approx(losses[1], abs=1e-6)
    assert losses[0] == pytest.approx(losses[2], abs=1e-6)


def launch_checks(init_from: Path, tmp_path: Path, *overrides: str) -> dict[str, Any]:
    from biomedlm.finetune.launch import prepare_finetune
    from biomedlm.recipe_kinds import load_recipe
    from tests.fixtures.paths import REPO

    recipe = load_recipe(
        REPO / "recipes" / "finetune" / "pubmedqa-debug-cpu.yaml",
        [f"model.init_from={init_from}", f"run_dir={tmp_path / 'run'}", *overrides],
        components=False,
    )
    return prepare_finetune(recipe)[0]


def test_weights_that_do_not_fit_their_tokenizer_are_refused_at_launch(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from biomedlm.settings import RecipeError
    from eval_gauntlet.errors import UnreadableCheckpoint
    from eval_gauntlet.scoring import load_checkpoint
    from tests.fixtures.models import tiny_model

    small = tiny_model(tmp_path / "small", tiny_dir, vocab_size=960)  # 1,000 tokens, 960 rows
    with pytest.raises(RecipeError) as refused:
        launch_checks(small, tmp_path)
    rule = "the tokenizer has 1000 tokens but the model's embedding has 960 rows"
    assert str(refused.value) == (
        f"model.init_from: {small}: {rule}; tokenizer and model do not match (its tokenizer "
        f"saved in {small}); start from weights saved with the tokenizer they were trained with"
    )
    with pytest.raises(UnreadableCheckpoint, match=rule):  # the gauntlet's rule is the same
        load_checkpoint(small)


def test_a_tokenizer_path_of_another_vocabulary_is_refused_and_added_tokens_are_not(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from biomedlm.init_weights import check_tokenizer
    from biomedlm.settings import RecipeError

    other = swapped_ids(tiny_dir, tmp_path / "other")
    assert len(AutoTokenizer.from_pretrained(other)) == len(AutoTokenizer.from_pretrained(tiny_dir))
    with pytest.raises(RecipeError) as refused:
        launch_checks(tiny_dir, tmp_path, f"tokenizer.path={other}")
    message = str(refused.value)
    assert message.startswith(
        f"tokenizer.path: {other} is another vocabulary than the tokenizer saved with "
        f"model.init_from ({tiny_dir}): 2 tokens have other ids, e.g. "
    )
    assert "Leave tokenizer.path unset" in message and "\n" not in message
    added = AutoTokenizer.from_pretrained(tiny_dir)
    added.add_special_tokens({"additional_special_tokens": ["[SEP]"], "pad_token": "[PAD]"})
    added.save_pretrained(tmp_path / "added")
    shutil.copytree(tiny_dir, tmp_path / "copy")
    for fine in (tmp_path / "added", tmp_path / "copy"):
        check_tokenizer(str(tiny_dir), tiny_dir, str(fine))


def pair_scores(hf_model: Any, data: list[dict[str, Any]]) -> torch.Tensor:
    """A reloaded Hugging Face model's scores of each question's options, unpadded, one by one."""
    rows = []
    with torch.no_grad():
        for batch in data:
            for prompt, pmask, options, omask in zip(
                batch["prompt_ids"],
                batch["prompt_mask"],
                batch["option_ids"],
                batch["option_mask"],
                strict=True,
            ):
                question = prompt[pmask.bool()]
                pairs = [
                    torch.cat([question, o[m.bool()]])[None]
                    for o, m in zip(options, omask, strict=True)
                ]
                rows.append([float(hf_model(input_ids=ids).logits[0, 0]) for ids in pairs])
    return torch.tensor(rows)


def test_added_tokens_grow_the_embedding_and_the_export_reloads_exactly(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = tokenizer_for("multiple_choice", tiny_dir, tmp_path)
    model = build_model("multiple_choice", tiny_dir, tokenizer)
    rows = model.model.get_input_embeddings().weight.shape[0]
    assert len(tokenizer) == 1002 and rows == 1024  # 1,000 + [SEP] + [PAD], padded to 64
    data = batches("multiple_choice", tokenizer, tmp_path)
    train(model, data, tmp_path, [FinetuneExport(str(tmp_path / "hf"), "1dur")])
    export = tmp_path / "hf" / "huggingface" / f"ba{len(data)}"
    reloaded = AutoModelForSequenceClassification.from_pretrained(export).eval()
    again = AutoTokenizer.from_pretrained(export)
    assert [again.convert_tokens_to_ids(t) for t in ("[SEP]", "[PAD]")] == [
        tokenizer.convert_tokens_to_ids(t) for t in ("[SEP]", "[PAD]")
    ]
    assert reloaded.config.biomedlm_task == "multiple_choice" and reloaded.config.vocab_size == 1024
    with torch.no_grad():
        ours = torch.cat([model(batch) for batch in data])
    torch.testing.assert_close(pair_scores(reloaded, data), ours, atol=1e-5, rtol=1e-5)


def test_an_export_that_fails_midway_leaves_nothing_under_its_name(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer = tokenizer_for("multiple_choice", tiny_dir, tmp_path)
    model = build_model("multiple_choice", tiny_dir, tokenizer)
    exports = tmp_path / "hf" / "huggingface"
    (exports / ".ba1.partial").mkdir(parents=True)  # left by an export killed earlier

    save = tokenizer.save_pretrained

    def full_disk(folder: Any, *args: Any, **kwargs: Any) -> Any:  # after the export's weights
        if Path(folder).is_relative_to(tmp_path / "hf"):  # not the checkpoint's tokenizer files
            assert (Path(folder) / "model.safetensors").is_file()
            raise OSError(28, "No space left on device")
        return save(folder, *args, **kwargs)

    monkeypatch.setattr(tokenizer, "save_pretrained", full_disk)
    with pytest.raises(OSError, match="No space left"):
        train(model, batches("multiple_choice", tokenizer, tmp_path), tmp_path,
              [FinetuneExport(str(tmp_path / "hf"), "1dur")])  # fmt: skip
    assert list(exports.iterdir()) == []  # no ba2 with its weights and no tokenizer


def test_what_a_finished_fine_tune_lacks_after_its_last_checkpoint(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from biomedlm.finetune.after_fit import RECORD, missing
    from biomedlm.trained.load import Progress

    recipe = lora_recipe(tiny_dir, tmp_path)  # run_dir: runs/pubmedqa-debug-cpu, in the repo
    recipe.run_dir = str(tmp_path / "run")
    recipe.callbacks["finetune_export"]["save_folder"] = str(tmp_path / "run" / "hf")
    at = Progress(batch=60, tokens=0)
    export = tmp_path / "run" / "hf" / "huggingface" / "ba60"
    assert missing(recipe, at) == {
        "export": f"the export {export}",
        "scores": f"the test scores in {recipe.eval.out} (eval.test_after_fit)",
    }
    export.mkdir(parents=True)
    (tmp_path / "run" / RECORD).write_text('{"batch": 40}')  # an earlier max_duration's
    assert list(missing(recipe, at)) == ["scores"]
    (tmp_path / "run" / RECORD).write_text('{"batch": 60}')
    assert missing(recipe, at) == {}
    recipe.eval.test_after_fit = False
    assert missing(recipe, Progress(batch=80, tokens=0)) == {
        "export": f"the export {export.with_name('ba80')}"
    }


def lora_recipe(tiny_dir: Path, tmp_path: Path) -> Any:
    from biomedlm.recipe_kinds import load_recipe
    from tests.fixtures.paths import REPO

    return load_recipe(
        REPO / "recipes" / "finetune" / "pubmedqa-debug-cpu.yaml",
        [
            f"model.init_from={tiny_dir}",
            "model.lora={r: 4, alpha: 8, dropout: 0.0}",
            "data.format=bioasq",
        ],
        components=False,
    )


def test_lora_trains_only_adapters_head_and_added_rows_and_every_export_reloads(
    tiny_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    from biomedlm.finetune.choice.model import choice_head
    from biomedlm.trained.load import load

    recipe = lora_recipe(tiny_dir, tmp_path)
    tokenizer = tokenizer_for("classification", tiny_dir, tmp_path)
    model = build_model("classification", tiny_dir, tokenizer, lora={**vars(recipe.model.lora)})
    assert model.using_peft
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(
        "lora_" in n or "score" in n or "trainable_tokens" in n for n in trainable
    )
    data = batches("classification", tokenizer, tmp_path)
    exports = [
        FinetuneExport(str(tmp_path / "merged"), "1dur", lora_export="merged"),
        FinetuneExport(str(tmp_path / "adapters"), "1dur", lora_export="adapters"),
    ]
    train(model, data, tmp_path, exports)
    after = dict(model.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and changed <= trainable
    assert any("lora_B" in n for n in changed) and any("score" in n for n in changed)
    with torch.no_grad():
        ours = torch.cat([model(batch) for batch in data])
    step = f"ba{len(data)}"
    merged = AutoModelForSequenceClassification.from_pretrained(
        tmp_path / "merged" / "huggingface" / step
    )
    assert not (tmp_path / "merged" / "huggingface" / step / "adapter_config.json").exists()
    assert (tmp_path / "adapters" / "huggingface" / step / "adapter_config.json").is_file()
    reloaded = [
        merged.eval(),
        load(tmp_path / "adapters" / "huggingface" / step, head=choice_head(recipe)).model,
        load(
            next((tmp_path / "ckpt").glob(f"ep*-{step}-rank0.pt")), head=choice_head(recipe)
        ).model,
    ]
    with torch.no_grad():
        for other in reloaded:
            if isinstance(other, ChoiceModel):  # a Composer model: its own batches
                scores = torch.cat([other(batch) for batch in data])
            else:
                scores = torch.cat(
                    [
                        other(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
                        for b in data
                    ]
                )
            torch.testing.assert_close(scores, ours, atol=1e-5, rtol=1e-5)
