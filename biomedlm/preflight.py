"""Launch-time checks of a pretraining recipe: this machine, its files, their fit together.

Each failure is one line naming the key, the paths and the fix (docs/reliability.md). Shards
must be packed at ``max_seq_len``: llm-foundry's loader truncates longer samples silently.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biomedlm.recipe import LoaderConfig, Recipe
from biomedlm.run_record import index_digest
from biomedlm.settings import RecipeError, TrainingSettings
from biomedlm.token_ids import FETCH_TIMEOUT, check_token_ids
from biomedlm.trained.kinds import first_line
from data_prep.document import PrepError
from data_prep.files import write_refused
from data_prep.manifest import IDENTITY_KEYS, tokenizer_identity
from data_prep.publish import hold_current_set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchFacts:
    """What the launch found out, needed to translate the recipe."""

    eos_id: int
    n_tokens: int  # tokens of the tokenizer (embedding rows are padded from it)
    on_gpu: bool
    init_from: str | None = None  # a Hugging Face folder holding model.init_from's weights
    # "<loader>.<stream>" -> the local (and remote) streaming reads, where they change: a held
    # set, or read-only shards read as a remote into a cache (streaming decompresses beside them)
    stream_paths: dict[str, dict[str, str]] = field(default_factory=dict)
    tokenizer: str | None = None  # the tokenizer folder read (a data_prep folder's held set)
    # "train_loader.streams.<stream>" -> the identity of its shards (biomedlm.run_record)
    data: dict[str, str] = field(default_factory=dict)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def bf16_setting(recipe: TrainingSettings) -> str | None:
    """The recipe's setting that computes in bf16 (``precision=amp_bf16``, FSDP's dtypes), if any."""
    if recipe.precision == "amp_bf16":
        return "precision: amp_bf16"
    mixed = (recipe.fsdp_config or {}).get("mixed_precision")
    if isinstance(mixed, dict):
        for key, dtype in mixed.items():
            if dtype in ("bf16", "bfloat16"):
                return f"fsdp_config.mixed_precision.{key}: {dtype}"
    return None


def check_machine(recipe: TrainingSettings) -> bool:
    """World size and precision against this machine; returns whether training is on GPUs."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if recipe.global_train_batch_size % world:
        raise RecipeError(
            f"global_train_batch_size: {recipe.global_train_batch_size} is not divisible by "
            f"the world size {world}; use a multiple of {world}"
        )
    on_gpu = cuda_available()
    if recipe.precision.startswith("amp_") and not on_gpu:
        raise RecipeError(
            f"precision: {recipe.precision} needs a GPU and none is visible; "
            "use precision=fp32 on CPU"
        )
    bf16 = bf16_setting(recipe) if on_gpu else None
    if bf16 is not None and not torch.cuda.is_bf16_supported():
        raise RecipeError(
            f"{bf16} needs a GPU that computes in bf16 (Ampere or newer) and this one does not; "
            "use precision=amp_fp16 (and fp16 FSDP dtypes), or another GPU"
        )
    fsdp = recipe.fsdp_config
    if fsdp is not None and world > 1 and not on_gpu and os.environ.get("FSDP_VERSION") != "2":
        raise RecipeError(
            "fsdp_config: FSDP (v1) needs CUDA; on CPU set FSDP_VERSION=2 (FSDP2 over gloo) "
            "or remove fsdp_config"
        )
    return on_gpu


def sample_length(split_dir: Path) -> int | None:
    """Tokens per sample of an MDS split written by data_prep (its ``tokens`` column shape)."""
    for shard in json.loads((split_dir / "index.json").read_text()).get("shards", []):
        names, encodings = shard.get("column_names", []), shard.get("column_encodings", [])
        if "tokens" in names:
            parts = encodings[names.index("tokens")].split(":")
            if parts[0] == "ndarray" and len(parts) == 3 and parts[2].isdigit():
                return int(parts[2])
    return None


def _check_stream(
    key: str,
    folder: Path,
    shown: str,
    split: str,
    recipe: Recipe,
    tokenizer: Any,
    field: str = "local",
    remote: str | None = None,
) -> str:
    """The shards under ``folder`` (``shown`` in messages) fit ``tokenizer`` and max_seq_len;
    their identity. ``remote``: the shards, when ``folder`` holds only a fetched index.
    """
    split_dir = folder / split
    if not (split_dir / "index.json").is_file():
        raise RecipeError(
            f"{key}.{field}: no MDS shards at {shown}/{split}; "
            "run `make prep-data` (or point it at a prepared folder)"
        )
    seq = recipe.model.max_seq_len
    length = sample_length(split_dir)
    if length is not None and length != seq:
        raise RecipeError(
            f"{key}: the shards at {shown}/{split} hold {length}-token samples but "
            f"model.max_seq_len is {seq}; set model.max_seq_len={length}, or re-pack the data "
            f"with pack.seq_len={seq}"
        )
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        check_token_ids(key, split_dir, f"{shown}/{split}", recipe, tokenizer, remote)
        return index_digest(split_dir / "index.json")
    made = json.loads(manifest_path.read_text()).get("tokenizer", {})
    tok_dir = recipe.tokenizer.path
    ours = tokenizer_identity(Path(tokenizer.name_or_path))
    differ = [k for k in IDENTITY_KEYS if k in made and made[k] != ours.get(k)]
    if not made.get("sha256") and made.get("vocab_size") not in (None, len(tokenizer)):
        differ.append("vocab_size")  # a manifest from before tokenizer identities were recorded
    if differ:
        raise RecipeError(
            f"{key}: the shards at {shown} were made with another tokenizer "
            f"({made.get('vocab_size')} tokens, per {shown}/manifest.json) than "
            f"tokenizer.path={tok_dir} ({len(tokenizer)} tokens; {', '.join(differ)} differ); "
            f"use the tokenizer data_prep wrote ({shown}/tokenizer)"
        )
    return index_digest(split_dir / "index.json")


def _fetch_remote(key: str, remote: str, split: str, into: Path) -> Path:
    """``remote``'s index and manifest, fetched as streaming fetches them, into ``into``."""
    from streaming.base.storage.download import CloudDownloader

    index = os.path.join(remote, split, "index.json")
    try:
        CloudDownloader.direct_download(index, str(into / split / "index.json"), FETCH_TIMEOUT)
    except Exception as exc:  # each store's client raises its own errors
        raise RecipeError(
            f"{key}.remote: cannot read {index} ({first_line(exc)}); check the remote path, its "
            "credentials and endpoint (S3_ENDPOINT_URL)"
        ) from None
    try:
        manifest = os.path.join(remote, "manifest.json")
        CloudDownloader.direct_download(manifest, str(into / "manifest.json"), FETCH_TIMEOUT)
    except Exception:  # shards without a manifest: warned about by the check
        log.debug("%s: no manifest.json", remote)
    return into


def _check_remote_shards(key: str, remote: str, split: str, fetched: Path) -> None:
    """Every shard file ``index.json`` names is in the remote, else the first batch needing it
    dies in streaming's download thread; a store that cannot be listed is left unchecked.
    """
    from streaming.base.storage.upload import CloudUploader

    needed = [  # what streaming downloads: the compressed file when there is one
        info["basename"]
        for shard in json.loads((fetched / split / "index.json").read_text()).get("shards", [])
        for part in ("data", "meta")
        if (info := shard.get(f"zip_{part}") or shard.get(f"raw_{part}"))
    ]
    try:
        store = CloudUploader.get((str(fetched / ".listing"), remote), exist_ok=True)
        listed = {os.path.basename(name) for name in store.list_objects(f"{split}/") or []}
    except Exception as exc:  # NotImplementedError, or each store's client's own errors
        why = first_line(exc)
        log.warning(
            "%s.remote: cannot list %s/%s (%s); shards not checked", key, remote, split, why
        )
        return
    missing = [name for name in needed if name not in listed]
    if missing:
        raise RecipeError(
            f"{key}.remote: {remote}/{split} has no {missing[0]}, which its index.json names "
            f"({len(missing)} of {len(needed)} shard files missing); upload the whole split again"
        )


def _held(folder: Path) -> Path | None:
    """The set a data_prep output ``folder`` publishes now, held for this run; else None."""
    try:
        return hold_current_set(folder)
    except PrepError as exc:
        raise RecipeError(str(exc)) from None


def writable(folder: Path) -> bool:
    """Whether this process can create files in ``folder`` (a read-only mount says no, even to root)."""
    return os.access(folder, os.W_OK) and write_refused(folder) is None


def check_loader(
    key: str, loader: LoaderConfig, recipe: Recipe, tokenizer: Any
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Every stream of ``loader`` exists and fits the tokenizer and ``max_seq_len``; where
    streaming reads the streams (:attr:`LaunchFacts.stream_paths`), and their identities.
    """
    paths, digests = {}, {}
    for name, stream in loader.read_streams().items():
        stream_key = f"{key}.streams.{name}"
        split = loader.split
        read: dict[str, str] = {}
        if stream.remote is None:
            local = _held(Path(stream.local)) or Path(stream.local)
            digests[stream_key] = _check_stream(
                stream_key, local, stream.local, split, recipe, tokenizer
            )
            if not writable(local / split):
                cache = Path(recipe.run_dir) / "stream_cache" / key / name
                if local != Path(stream.local):  # one cache per set: shard names repeat
                    cache = cache / local.name
                _check_cache(stream_key, cache / split, local / split)
                read = {"remote": str(local), "local": str(cache)}
                log.info("%s is read-only: its shards are read through the cache %s", local, cache)
            elif local != Path(stream.local):
                read = {"local": str(local)}
        elif "://" not in stream.remote:  # a path: possibly a data_prep folder
            remote = _held(Path(stream.remote))
            folder = remote or Path(stream.remote)
            digests[stream_key] = _check_stream(
                stream_key, folder, stream.remote, split, recipe, tokenizer, "remote"
            )
            if remote is not None:  # the cache of one set never serves another's shard names
                read = {"remote": str(remote), "local": str(Path(stream.local) / remote.name)}
            _check_cache(stream_key, Path(read.get("local", stream.local)) / split, folder / split)
        else:
            with tempfile.TemporaryDirectory(prefix="remote-check-") as tmp:
                fetched = _fetch_remote(stream_key, stream.remote, split, Path(tmp))
                digests[stream_key] = _check_stream(
                    stream_key, fetched, stream.remote, split, recipe, tokenizer, "remote",
                    stream.remote,
                )  # fmt: skip
                _check_remote_shards(stream_key, stream.remote, split, fetched)
                _check_cache(stream_key, Path(stream.local) / split, fetched / split)
        if read:
            paths[f"{key}.{name}"] = read
    eos_id = tokenizer.eos_token_id
    if loader.eos_token_id is not None and loader.eos_token_id != eos_id:
        raise RecipeError(
            f"{key}.eos_token_id: {loader.eos_token_id} but the tokenizer's EOS id is {eos_id}; "
            f"set {key}.eos_token_id={eos_id}"
        )
    return paths, digests


def _check_cache(key: str, cached: Path, source: Path) -> None:
    """A stream's local cache of a split holds nothing yet, or the shards of ``source``:
    streaming reads a cache's own files whenever they exist, never looking at the remote.
    """
    index = cached / "index.json"
    if not index.is_file():
        return
    try:
        same = index_digest(index) == index_digest(source / "index.json")
    except (OSError, ValueError):  # a cut-off cached index: not this data set's either
        same = False
    if not same:
        raise RecipeError(
            f"{key}.local: the cache {cached} holds other shards than the stream's data (its "
            "index.json differs: another data set, or the remote republished since); empty it "
            f"(rm -r {cached}) or point {key}.local at a new folder"
        )


def check_init_config(source: str, config: dict[str, Any], recipe: Recipe) -> None:
    """Weights to start from must have the recipe's shape and positions (their tokenizer:
    :func:`biomedlm.init_weights.check_tokenizer`).
    """
    model = recipe.model
    positions = config.get("n_positions", config.get("max_position_embeddings"))
    if positions is not None and positions < model.max_seq_len:
        raise RecipeError(
            f"model.init_from: {source} has {positions} positions but model.max_seq_len is "
            f"{model.max_seq_len}; set model.max_seq_len={positions} (or fewer)"
        )
    differ = [
        f"model.{key}={getattr(model, key)} vs {config[name]}"
        for key, name in {"n_layers": "n_layer", "d_model": "n_embd", "n_heads": "n_head"}.items()
        if name in config and config[name] != getattr(model, key)
    ]
    if differ:
        raise RecipeError(
            f"model.init_from: {source} does not have the recipe's shape ({'; '.join(differ)}); "
            "set the recipe's model sizes to the weights'"
        )


def preflight(recipe: Recipe) -> LaunchFacts:
    """Check a pretraining recipe against this machine and its files; the launch's facts."""
    from transformers import AutoTokenizer

    from biomedlm.init_weights import check_tokenizer, hf_folder

    on_gpu = check_machine(recipe)
    tok_dir = Path(recipe.tokenizer.path)  # in the set held for the run, if a data_prep output's
    held = _held(tok_dir.parent) if tok_dir.name == "tokenizer" else None
    tok_dir = held / tok_dir.name if held is not None else tok_dir
    if not (tok_dir / "tokenizer_config.json").is_file():
        raise RecipeError(f"tokenizer.path: no tokenizer at {tok_dir}; run `make prep-data`")
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    paths, data = check_loader("train_loader", recipe.train_loader, recipe, tokenizer)
    if recipe.eval_loader is not None:
        paths |= check_loader("eval_loader", recipe.eval_loader, recipe, tokenizer)[0]
    init_from = None
    if recipe.model.init_from is not None:
        folder = hf_folder(recipe.model.init_from, Path(recipe.run_dir) / "init")
        check_tokenizer(recipe.model.init_from, folder, str(tok_dir))
        config = json.loads((folder / "config.json").read_text())
        check_init_config(recipe.model.init_from, config, recipe)
        init_from = str(folder)
    return LaunchFacts(
        tokenizer.eos_token_id, len(tokenizer), on_gpu, init_from, paths, str(tok_dir), data
    )
