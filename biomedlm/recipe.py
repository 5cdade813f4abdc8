"""The pretraining recipe: a GPT-2 architecture and the MDS shard streams it trains on.

The keys: docs/pretraining.md. Machine and files are checked at launch (:mod:`biomedlm.preflight`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from biomedlm.settings import LoaderOptions, TrainingSettings, check_model_common, unset


@dataclass
class ModelConfig:
    name: str = "biomedlm"
    n_layers: int = MISSING
    d_model: int = MISSING
    n_heads: int = MISSING
    max_seq_len: int = MISSING
    dropout: float = 0.0
    init_from: str | None = None  # a checkpoint (HF folder, Composer file or sharded folder)
    init_device: str = "cpu"  # "meta" for FSDP on GPUs
    attn_implementation: str = "sdpa"
    use_train_metrics: bool = True  # cross-entropy and perplexity of each training batch

    def __post_init__(self) -> None:
        if unset(self):
            return
        for key in ("n_layers", "d_model", "n_heads", "max_seq_len"):
            if getattr(self, key) < 1:
                raise ValueError(f"model.{key}: must be >= 1, got {getattr(self, key)}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"model.n_heads: {self.n_heads} does not divide model.d_model {self.d_model}"
            )
        check_model_common("model", self.dropout, self.init_device, self.attn_implementation)


@dataclass
class TokenizerConfig:
    path: str = MISSING  # a local Hugging Face tokenizer directory (data_prep writes one)


@dataclass
class StreamConfig:
    local: str = MISSING  # folder holding <split>/index.json
    remote: str | None = None  # s3://, gs://, oci://... (then `local` is the cache)
    proportion: float | None = None

    def __post_init__(self) -> None:
        if unset(self):
            return
        if self.proportion is not None and self.proportion <= 0:
            raise ValueError(f"proportion: must be > 0, got {self.proportion}")


@dataclass
class LoaderConfig(LoaderOptions):
    # name -> shards; `name: null` (e.g. the override `train_loader.streams.pmc=null`) removes a
    # stream that a base recipe has
    streams: dict[str, StreamConfig | None] = MISSING
    split: str = "train"
    shuffle: bool = True
    shuffle_seed: int = 17
    eos_token_id: int | None = None  # checked against the tokenizer
    drop_last: bool = True

    def read_streams(self) -> dict[str, StreamConfig]:
        """The streams the loader reads: those set to null left out."""
        return {name: stream for name, stream in self.streams.items() if stream is not None}

    def check(self, name: str) -> None:
        if not self.read_streams():
            raise ValueError(f"{name}.streams: needs at least one stream that is not null")
        self.check_options(name)


@dataclass
class Recipe(TrainingSettings):
    """A pretraining recipe: the architecture and the MDS shard streams it trains on."""

    model: ModelConfig = field(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    train_loader: LoaderConfig = field(default_factory=LoaderConfig)
    eval_loader: LoaderConfig | None = None

    def __post_init__(self) -> None:
        if unset(self):
            return
        super().__post_init__()
        self.train_loader.check("train_loader")
        if self.eval_loader is not None:
            self.eval_loader.check("eval_loader")
