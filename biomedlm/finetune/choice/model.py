"""``biomedlm_choice``: Hugging Face's ``GPT2ForSequenceClassification`` (exports reload with
``AutoModelForSequenceClassification``) scoring each option (``num_labels: 1``; the scripts'
``GPT2ForMultipleChoice`` bias is a constant cross-entropy ignores) or each label. A question
is read once, its keys and values reused by its options; positions come from the masks. A saved
one is read back through :func:`choice_head`, the head :func:`biomedlm.trained.load.load` builds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from llmfoundry.models.hf.hf_base import BaseHuggingFaceModel
from llmfoundry.models.hf.hf_fsdp import hf_get_causal_base_model, hf_get_hidden_layers
from torchmetrics import Metric
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig

from biomedlm.attention import attention_for
from biomedlm.finetune.choice.data import tokens_in_batch
from biomedlm.finetune.choice.layout import LAYOUT_TOKENS
from biomedlm.finetune.choice.readers import LABELS
from biomedlm.finetune.recipe import FinetuneRecipe, LoraConfig, peft_config
from biomedlm.model import dropout_overrides, set_token_ids, token_ids
from biomedlm.trained.load import Head, HeadMismatch
from biomedlm.vocabulary import grow_embeddings

log = logging.getLogger(__name__)

TASK_KEY = "biomedlm_task"  # saved in the exported config: which family the head serves


class _PerQuestion(Metric):
    """Sums over questions of whether the top score is the gold one, and of cross-entropy."""

    full_state_update = False
    correct: torch.Tensor
    loss: torch.Tensor
    total: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("correct", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("loss", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.correct += (preds.argmax(-1) == target).sum()
        self.loss += F.cross_entropy(preds.float(), target, reduction="sum")
        self.total += target.numel()


class ChoiceAccuracy(_PerQuestion):
    """Share of questions whose highest score is the gold option (or label)."""

    def compute(self) -> torch.Tensor:
        return self.correct.float() / self.total.clamp(min=1)


class ChoiceCrossEntropy(_PerQuestion):
    """Mean cross-entropy per question over its options (or labels)."""

    def compute(self) -> torch.Tensor:
        return self.loss / self.total.clamp(min=1)


def positions(mask: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
    """Position ids read from an attention mask (0 at each row's first real token)."""
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
    return pos if offset is None else pos + offset[:, None]


class ChoiceModel(BaseHuggingFaceModel):
    """A Composer model scoring options (multiple choice) or labels (classification)."""

    model_cls = AutoModelForSequenceClassification

    def __init__(
        self,
        tokenizer: Any,
        pretrained_model_name_or_path: str,
        task: str,
        labels: Sequence[str] = (),
        layout_tokens: Sequence[str] = (),
        pretrained: bool = True,
        init_device: str = "cpu",
        attn_implementation: str = "sdpa",
        dropout: float | None = None,
        lora: Mapping[str, Any] | None = None,
    ) -> None:
        self.task = task
        self.n_rows = len(tokenizer)  # plain attributes may be set before Module.__init__
        self.token_ids = token_ids(tokenizer)
        overrides: dict[str, Any] = {
            "num_labels": len(labels) if task == "classification" else 1,
            "labels": list(labels),
            "pad_token_id": tokenizer.pad_token_id,
            TASK_KEY: task,
            **dropout_overrides(dropout),
        }
        rows = [tokenizer.convert_tokens_to_ids(t) for t in layout_tokens]
        peft = None if lora is None else peft_config(LoraConfig(**lora), rows, task_type="SEQ_CLS")
        config = AutoConfig.from_pretrained(pretrained_model_name_or_path, local_files_only=True)
        super().__init__(
            pretrained_model_name_or_path,
            tokenizer=tokenizer,
            pretrained=pretrained,
            trust_remote_code=False,
            init_device=init_device,
            config_overrides=overrides,
            use_logits=True,
            shift_labels=False,
            peft_config=peft,
            should_save_peft_only=False,  # checkpoints hold every weight: resumes are exact
            attn_implementation=attention_for(config, attn_implementation),
        )
        n_params = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        log.info("%s model: %s parameters, %s trainable", task, f"{n_params:,}", f"{trainable:,}")
        self.n_params = n_params

    @classmethod
    def build_config(
        cls,
        pretrained_model_name_or_path: str,
        trust_remote_code: bool,
        use_auth_token: bool,
        attn_implementation: str,
        config_overrides: dict[str, Any],
    ) -> PretrainedConfig:
        """The weights' config with the task head's labels, the pad token and the dropout."""
        overrides = dict(config_overrides)
        labels = overrides.pop("labels")
        config = super().build_config(
            pretrained_model_name_or_path,
            trust_remote_code,
            use_auth_token,
            attn_implementation,
            {},
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        if labels:
            config.id2label = dict(enumerate(labels))
            config.label2id = {label: i for i, label in enumerate(labels)}
        return config

    def transform_model(self, model: Any) -> Any:
        """Embedding rows for the added tokens (a no-op when the weights already have them), and
        the tokenizer's special ids in the config."""
        grow_embeddings(model, self.n_rows)
        set_token_ids(model, self.token_ids)
        return model

    @classmethod
    def build_metrics(
        cls,
        use_train_metrics: bool,
        additional_train_metrics: list[str] | None = None,
        additional_eval_metrics: list[str] | None = None,
    ) -> tuple[list[Metric], list[Metric]]:
        return [ChoiceAccuracy()], [ChoiceAccuracy(), ChoiceCrossEntropy()]

    def get_peft_config(self, peft_config_dict: dict[str, Any]) -> Any:
        import peft

        return peft.LoraConfig(**peft_config_dict)  # llm-foundry's takes CAUSAL_LM only

    @staticmethod
    def prepare_inner_model(model: Any, init_device: str | None = None) -> None:
        """FSDP-wrap and activation-checkpoint each transformer block (and each LoRA layer)."""
        from composer.models.huggingface import maybe_get_underlying_model

        inner = maybe_get_underlying_model(model)
        block_type = type(hf_get_hidden_layers(hf_get_causal_base_model(inner))[0])
        for name, module in model.named_modules():
            if "lora_" in name and next(module.parameters(), None) is not None:
                module._fsdp_wrap = True
        model.fsdp_wrap_fn = lambda module: isinstance(module, block_type)
        model.activation_checkpointing_fn = lambda module: isinstance(module, block_type)
        model.param_init_fn = lambda module: inner._init_weights(module)  # type: ignore[union-attr]

    def _logits(
        self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, **kwargs: Any
    ) -> Any:
        return self.model(input_ids=ids, attention_mask=mask, position_ids=pos, **kwargs)

    def _shared(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Scores (batch x options): the question once, its keys and values reused per option."""
        prompt_mask = batch["prompt_mask"]
        b, k, width = batch["option_ids"].shape
        out = self._logits(batch["prompt_ids"], prompt_mask, positions(prompt_mask), use_cache=True)
        past = tuple(
            tuple(t.repeat_interleave(k, dim=0) for t in layer) for layer in out.past_key_values
        )
        if torch.is_grad_enabled() and self.training and not past[-1][0].requires_grad:
            raise RuntimeError(
                "the question's keys and values carry no gradient (reentrant activation "
                "checkpointing?); set fsdp_config.activation_checkpointing_reentrant=false"
            )
        option_mask = batch["option_mask"].reshape(b * k, width)
        scores = self._logits(
            batch["option_ids"].reshape(b * k, width),
            torch.cat([prompt_mask.repeat_interleave(k, dim=0), option_mask], dim=1),
            positions(option_mask, prompt_mask.sum(-1).repeat_interleave(k)),
            past_key_values=past,
            use_cache=False,
        ).logits
        return scores.view(b, k)

    def forward(self, batch: Mapping[str, Any]) -> torch.Tensor:  # type: ignore[override]
        """Scores: batch x options (multiple choice) or batch x labels (classification)."""
        if "prompt_ids" in batch:
            scores = self._shared(batch)
        else:
            ids, mask = batch["input_ids"], batch["attention_mask"]
            flat_ids, flat_mask = ids.reshape(-1, ids.shape[-1]), mask.reshape(-1, ids.shape[-1])
            logits = self._logits(flat_ids, flat_mask, positions(flat_mask)).logits
            scores = logits.view(ids.shape[0], -1)
        if "present" in batch:
            scores = scores.masked_fill(~batch["present"], torch.finfo(scores.dtype).min)
        return scores

    def loss(self, outputs: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:  # type: ignore[override]
        return F.cross_entropy(outputs.float(), batch["labels"])

    def eval_forward(self, batch: Mapping[str, Any], outputs: Any | None = None) -> torch.Tensor:
        self.labels = batch["labels"]
        return outputs if outputs is not None else self.forward(batch)

    def flops_per_batch(self, batch: Mapping[str, Any]) -> int:
        """Training flops (forward + backward), 6 per parameter per token read (attention aside)."""
        return 6 * self.n_params * tokens_in_batch(dict(batch))


def _labels(config: dict[str, Any] | None, recipe: FinetuneRecipe) -> list[str]:
    """The labels a saved config names (checked to be the recipe's task); a base's: the format's."""
    if config is None:  # adapters over the weights they were trained from: no head saved yet
        return list(LABELS[recipe.data.format]) if recipe.task == "classification" else []
    found = config.get(TASK_KEY)
    if found != recipe.task:
        raise HeadMismatch(
            f"not a {recipe.task} model (its config says {TASK_KEY}: {found!r}); "
            "score it with the recipe it was fine-tuned with"
        )
    if recipe.task != "classification":
        return []
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]


def choice_head(recipe: FinetuneRecipe) -> Head:
    """The :class:`~biomedlm.trained.load.Head` making ``recipe``'s model from what was saved."""

    def build(
        folder: Path,
        tokenizer: Any,
        *,
        config: dict[str, Any] | None,
        pretrained: bool,
        peft: dict[str, Any] | None,
    ) -> ChoiceModel:
        lora = recipe.model.lora
        if not pretrained and (peft is not None) != (lora is not None):
            raise HeadMismatch(
                f"the run {'used' if lora is None else 'did not use'} LoRA; set model.lora as "
                "the run's recipe did"
            )
        return ChoiceModel(
            tokenizer,
            str(folder),
            recipe.task,
            labels=_labels(config, recipe),
            layout_tokens=LAYOUT_TOKENS[recipe.task],
            attn_implementation=recipe.model.attn_implementation,
            pretrained=pretrained,
            lora=vars(lora) if lora is not None and not pretrained else None,
        )

    return build
