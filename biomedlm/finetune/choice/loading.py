"""Read a fine-tuned multiple-choice or classification model back, to score it later.

Three kinds of checkpoint, as a fine-tuning run leaves them:

- a Hugging Face export (``finetune_export`` / ``hf_checkpointer``: config, weights, tokenizer
  with the added tokens), LoRA merged or not;
- a LoRA adapters export (``adapter_config.json``): loaded with ``peft`` over the weights it was
  trained from (its ``base_model_name_or_path``, the run's ``model.init_from`` folder);
- a Composer checkpoint, a file or FSDP's sharded folder (read by :mod:`biomedlm.checkpoint`):
  its saved config, tokenizer and every weight (fine-tuning checkpoints keep the frozen base
  weights too), into the model the recipe describes (``model.lora`` must match the run's).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from biomedlm.checkpoint import CheckpointError, Progress, check_model_folder, is_sharded
from biomedlm.finetune.choice.layout import LAYOUT_TOKENS
from biomedlm.finetune.choice.model import TASK_KEY, ChoiceModel
from biomedlm.finetune.recipe import FinetuneRecipe


def _labels(config: dict[str, Any], task: str, where: Path) -> list[str]:
    found = config.get(TASK_KEY)
    if found != task:
        raise CheckpointError(
            f"{where}: not a {task} model (its config says {TASK_KEY}: {found!r}); "
            "score it with the recipe it was fine-tuned with"
        )
    if task != "classification":
        return []
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]


def _model(folder: Path, tokenizer: Any, recipe: FinetuneRecipe, **kwargs: Any) -> ChoiceModel:
    return ChoiceModel(
        tokenizer,
        str(folder),
        recipe.task,
        layout_tokens=LAYOUT_TOKENS[recipe.task],
        attn_implementation=recipe.model.attn_implementation,
        **kwargs,
    )


def _from_export(path: Path, recipe: FinetuneRecipe) -> ChoiceModel:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    adapters = path / "adapter_config.json"
    if not adapters.is_file():
        config = json.loads((path / "config.json").read_text())
        return _model(path, tokenizer, recipe, labels=_labels(config, recipe.task, path))
    from peft import PeftModel

    base = Path(json.loads(adapters.read_text()).get("base_model_name_or_path") or "")
    if not (base / "config.json").is_file():
        raise CheckpointError(
            f"{path}: LoRA adapters over {base}, which is not a Hugging Face folder here; "
            "put the weights they were trained from there, or export with lora.export=merged"
        )
    labels = list(_format_labels(recipe)) if recipe.task == "classification" else []
    model = _model(base, tokenizer, recipe, labels=labels)
    model.model = PeftModel.from_pretrained(model.model, str(path)).merge_and_unload()
    return model


def _format_labels(recipe: FinetuneRecipe) -> tuple[str, ...]:
    from biomedlm.finetune.choice.readers import LABELS

    return LABELS[recipe.data.format]


def _from_composer(path: Path, recipe: FinetuneRecipe, trust: bool) -> tuple[ChoiceModel, Progress]:
    from biomedlm.checkpoint import _read_state, load_saved_tokenizer, read_progress

    state = _read_state(path, trust)
    hf_state = state["integrations"]["huggingface"]
    content = dict(hf_state["model"]["config"]["content"])
    labels = _labels(content, recipe.task, path)
    lora = recipe.model.lora
    if ("peft_config" in hf_state["model"]) != (lora is not None):
        raise CheckpointError(
            f"{path}: the run {'used' if lora is None else 'did not use'} LoRA; set model.lora "
            "as the run's recipe did"
        )
    with tempfile.TemporaryDirectory() as scratch:
        from transformers import AutoConfig

        config = AutoConfig.for_model(content.pop("model_type"), **content)
        config.save_pretrained(scratch)
        tokenizer = load_saved_tokenizer(path, hf_state, Path(scratch))
        model = _model(
            Path(scratch),
            tokenizer,
            recipe,
            labels=labels,
            pretrained=False,
            lora=vars(lora) if lora is not None else None,
        )
    try:
        model.load_state_dict(state["model"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the recipe's model ({exc})") from None
    return model, read_progress(path)


def load_finetuned(
    path: Path, recipe: FinetuneRecipe, *, trust: bool = False
) -> tuple[ChoiceModel, Progress | None]:
    """The fine-tuned model at ``path`` (any kind above) and how far its training had gone.

    ``trust``: as :func:`biomedlm.checkpoint.load_pretrained` (``--trust-checkpoint``).
    """
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or model folder")
    if path.is_dir() and not is_sharded(path):
        if not ((path / "config.json").is_file() or (path / "adapter_config.json").is_file()):
            raise CheckpointError(
                f"{path}: neither a Hugging Face export (config.json), LoRA adapters "
                "(adapter_config.json) nor a Composer checkpoint"
            )
        check_model_folder(path)  # a cut-off export: one line, not transformers' traceback
        try:
            return _from_export(path, recipe), None
        except CheckpointError:
            raise
        except Exception as exc:  # any library error, one line naming the path
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CheckpointError(f"{path}: cannot load it ({type(exc).__name__}: {why})") from None
    return _from_composer(path, recipe, trust)
