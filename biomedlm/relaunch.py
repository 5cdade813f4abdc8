"""Relaunching a run: a finished run exits cleanly; a changed recipe is refused or applied, stated.

Composer 0.32 fails with a traceback when resuming a run that reached ``max_duration``, and keeps
the checkpoint's optimizer, scheduler, data order and seed whatever the new recipe says. So a
relaunch is compared with the record beside the checkpoint (:mod:`biomedlm.run_record`) first;
what is refused and what applies: docs/reliability.md.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from biomedlm.run_record import RUN_DIR_RECIPE, identity_change, read_record, record_path
from biomedlm.settings import RecipeError, TrainingSettings, parse_time
from biomedlm.trained.kinds import CheckpointError
from biomedlm.trained.load import Progress, read_progress, read_saved_config
from biomedlm.trained.names import Position, composer_folder, composer_position, composer_step

log = logging.getLogger(__name__)

ARCHITECTURE = ("model.name", "model.n_layers", "model.d_model", "model.n_heads",
                "model.max_seq_len", "model.lora", "tokenizer", "task")  # fmt: skip
RESTORED = ("optimizer", "scheduler", "global_train_batch_size", "seed", "model.init_from",
            "train_loader.shuffle_seed")  # fmt: skip
# which training samples, in which order: a pretraining run's streams, a fine-tune's examples
# (its reader, files, split, label base, length limit and count; data.validation, data.test
# and data.test_limit are only evaluated, so a relaunch applies them)
DATA_ORDER = ("train_loader.split", "train_loader.shuffle", "train_loader.drop_last",
              "train_loader.streams", "data.format", "data.train", "data.split", "data.cop_base",
              "data.max_length", "data.train_limit")  # fmt: skip
# the GPT-2 config keys that change what a model computes from its weights
COMPUTATION = ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "scale_attn_weights",
               "n_layer", "n_embd", "n_head", "n_inner", "activation_function",
               "layer_norm_epsilon")  # fmt: skip
STREAM_PLACE = ("local", "remote")  # where a stream's shards are read from, not which samples
# the objects Composer's checkpoint saver uploads beside a remote run's checkpoints (files, shards)
LATEST_REMOTE = ("latest-rank0.pt.symlink", "latest-sharded-rank0.symlink")


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists are leaves)."""
    if not isinstance(tree, dict) or not tree:
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two resolved recipes."""
    a, b = flatten(old), flatten(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def with_defaults(recorded: dict[str, Any], schema: type) -> dict[str, Any]:
    """A recorded recipe (flattened), each key it lacks (one added since) at ``schema``'s default."""
    from omegaconf import OmegaConf

    flat = flatten(recorded)
    taken = {".".join(k.split(".")[:end]) for k in flat for end in range(1, k.count(".") + 2)}
    defaults = flatten(OmegaConf.to_container(OmegaConf.structured(schema), resolve=False))
    for key, value in defaults.items():
        parts = key.split(".")
        above = any(".".join(parts[:end]) in flat for end in range(1, len(parts)))
        if key not in taken and not above and value != "???" and "${" not in str(value):
            flat[key] = value  # required (???) and interpolated defaults aside
    return flat


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _reorders(key: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether changing ``key`` changes the training data's sample order (moving a stream both
    recipes have does not).
    """
    if not _under(key, DATA_ORDER):
        return False
    parts = key.split(".")
    if len(parts) == 4 and parts[1] == "streams" and parts[3] in STREAM_PLACE:
        return parts[2] not in set(_stream_names(old)) & set(_stream_names(new))
    return True


def _stream_names(tree: dict[str, Any]) -> list[str]:
    """The training streams a resolved recipe reads (one set to null is removed)."""
    streams = (tree.get("train_loader") or {}).get("streams") or {}
    return [name for name, stream in streams.items() if stream is not None]


def stream_order_change(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``train_loader.streams`` -> (old, new) names when the same streams are listed in another
    order: streaming reads them in order, so it changes the sample order (:func:`changed_keys`
    compares the flattened keys, which have no order)."""
    names = [_stream_names(tree) for tree in (old, new)]
    if set(names[0]) != set(names[1]) or names[0] == names[1]:
        return {}  # an added or removed stream is one of changed_keys'
    return {"train_loader.streams": (names[0], names[1])}


def latest_checkpoint(save_folder: str | None) -> Path | str | None:
    """The newest complete-looking Composer checkpoint in ``save_folder``, if any (a remote
    folder's: :func:`latest_remote_checkpoint`)."""
    if save_folder and "://" in save_folder:
        return latest_remote_checkpoint(save_folder)
    if not save_folder or not Path(save_folder).is_dir():
        return None
    found = [
        (position, path)
        for path in Path(save_folder).iterdir()
        if (position := composer_position(path.name)) is not None
        and (path.is_dir() or path.stat().st_size > 0)
    ]
    return max(found)[1] if found else None


def latest_remote_checkpoint(save_folder: str) -> str | None:
    """The URI of a remote run's newest checkpoint, as Composer's ``latest`` symlinks name it
    (None: no symlink); an unreadable bucket raises the object store's error.
    """
    from composer.utils import extract_path_from_symlink, maybe_create_object_store_from_uri
    from composer.utils.file_helpers import parse_uri

    store = maybe_create_object_store_from_uri(save_folder)
    backend, bucket, _ = parse_uri(save_folder)
    found: list[tuple[Position, str]] = []
    for name in LATEST_REMOTE:
        try:  # the symlink's content is the checkpoint's object name, without the bucket
            target = extract_path_from_symlink(f"{save_folder.rstrip('/')}/{name}", store)
        except FileNotFoundError:
            continue
        uri = f"{backend}://{bucket}/{target.strip()}"
        position = composer_position(uri.rstrip("/").rsplit("/", 1)[-1])
        found.append((position or (-1, -1), uri))
    return max(found)[1] if found else None


def read_any_progress(where: Path | str) -> Progress:
    """A checkpoint *file*'s timestamp; a remote one downloaded into a temporary folder first."""
    from composer.utils import get_file

    if isinstance(where, Path):
        return read_progress(where)
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / where.rsplit("/", 1)[-1]
        try:
            get_file(where, str(local), progress_bar=False)
        except Exception as exc:  # any object-store error, made one line naming the where
            raise CheckpointError(f"{where}: cannot download it ({type(exc).__name__})") from None
        return read_progress(local)


class AfterFitCompleted(Exception):
    """Raised once a relaunch has completed a finished run's after-fit work: the launch ends."""


@dataclass(frozen=True)
class AfterFitWork:
    """A finished run's after-fit work that a crash cut off: the line a relaunch says, and how it
    turns the train config into one that completes the work without training."""

    line: str
    complete: Callable[[dict[str, Any]], None]


class Finished(str):
    """The one line a finished run prints; its newest ``checkpoint`` and where it stopped."""

    checkpoint: Path | str
    progress: Progress

    def __new__(cls, line: str, checkpoint: Path | str, progress: Progress) -> Finished:
        made = super().__new__(cls, line)
        made.checkpoint, made.progress = checkpoint, progress
        return made


def _describe(changes: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in list(changes.items())[:4])


def check_relaunch(recipe: TrainingSettings, resolved: dict[str, Any]) -> Finished | None:
    """None to go on training; a one-line message when the run has already finished.

    Raises :class:`RecipeError` when the recipe changed in a way a resume cannot honour.
    """
    if not recipe.autoresume or not recipe.save_folder:
        return None
    folder = composer_folder(recipe.save_folder, recipe.run_name)
    try:
        checkpoint = latest_checkpoint(folder)
    except Exception as exc:  # an unreachable bucket: Composer will try, and say why
        if "://" not in folder:
            raise
        log.warning(
            "cannot read the latest checkpoint of %s (%s: %s); relaunch checks skipped, "
            "Composer will try to resume from it",
            folder,
            type(exc).__name__,
            str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        )
        return None
    if checkpoint is None:
        return None
    _compare_with_record(recipe, resolved, checkpoint, folder)
    finished = _finished_at(recipe, checkpoint)
    if finished is None and isinstance(checkpoint, Path):
        _check_architecture(recipe, checkpoint)
    return finished


def _check_architecture(recipe: TrainingSettings, checkpoint: Path) -> None:
    """Refuse to resume ``checkpoint`` into a model that computes otherwise than the one it saved:
    biomedlm/architecture/config.json is no recipe key, and changes with the code (a model on
    ``init_from`` takes that model's own config).
    """
    model = getattr(recipe, "model", None)
    if getattr(model, "init_from", None) is not None or getattr(model, "n_layers", None) is None:
        return
    from biomedlm.model import ARCHITECTURE_DIR, architecture  # llm-foundry: after main's filters

    built = architecture(model.n_layers, model.d_model, model.n_heads)  # type: ignore[union-attr]
    try:
        saved = read_saved_config(checkpoint)
    except CheckpointError as exc:
        log.warning("%s; its architecture is not checked, Composer will resume from it", exc)
        return
    for key in COMPUTATION:
        if saved.get(key) != built.get(key):
            raise RecipeError(
                f"{key}: {checkpoint} was trained with {saved.get(key)!r} but the recipe's model "
                f"({ARCHITECTURE_DIR}/config.json) has {built.get(key)!r}, another computation "
                "on its weights. Start a new run from the checkpoint, on its own architecture "
                f"(run_name=NEW model.init_from={checkpoint})"
            )


def _finished_at(recipe: TrainingSettings, checkpoint: Path | str) -> Finished | None:
    """:func:`check_relaunch`'s finished line; a remote checkpoint is downloaded only if needed."""
    name = checkpoint.rstrip("/").rsplit("/", 1)[-1] if isinstance(checkpoint, str) else ""
    batch = composer_step(name)  # a remote checkpoint's, from its name
    limit = parse_time("max_duration", recipe.max_duration)
    unit = limit.unit.value
    # packed shards hold max_seq_len-token samples (a launch check): a pretraining batch's
    # tokens are known without a download (a fine-tune's rows are padded)
    max_seq_len = getattr(getattr(recipe, "model", None), "max_seq_len", None)
    fine_tune = getattr(recipe, "task", None) is not None
    packed = recipe.global_train_batch_size * max_seq_len if max_seq_len and not fine_tune else None
    tokens_known = True
    if unit == "ba" and batch is not None:
        progress, tokens_known = Progress(batch, 0), False
    elif unit == "tok" and batch is not None and packed is not None:
        progress = Progress(batch, batch * packed)
    elif isinstance(checkpoint, Path) or checkpoint.endswith(".pt"):
        try:
            progress = read_any_progress(checkpoint)
        except CheckpointError as exc:
            log.warning("%s; Composer will try to resume from it", exc)
            return None
    else:
        log.warning(
            "%s: a remote sharded checkpoint is checked for having finished by batch only (or "
            "a pretraining run's tokens), and max_duration=%s is neither; Composer will resume "
            "from it",
            checkpoint,
            recipe.max_duration,
        )
        return None
    done = {"ba": progress.batch, "tok": progress.tokens, "sp": progress.samples,
            "ep": progress.epochs}[unit]  # fmt: skip
    if done < limit.value:
        return None
    tokens = f", {progress.tokens:,} tokens" if tokens_known else ""
    return Finished(
        f"run {recipe.run_name} has finished: batch {progress.batch}{tokens}, at {checkpoint} "
        f"(max_duration={recipe.max_duration}); to train it further, relaunch with a longer "
        "max_duration",
        checkpoint,
        progress,
    )


def _compare_with_record(
    recipe: TrainingSettings, resolved: dict[str, Any], checkpoint: Path | str, folder: str
) -> None:
    """Refuse what a resume from ``checkpoint`` (in ``folder``, the recipe's save folder as
    Composer uses it) cannot honour; log what it applies."""
    record, previous = _recorded_recipe(recipe, folder)
    if previous is None:
        return
    changes = {
        **changed_keys(with_defaults(previous, type(recipe)), resolved),
        **stream_order_change(previous, resolved),
    }
    fixed = {k: v for k, v in changes.items() if _under(k, ARCHITECTURE)}
    if fixed:
        raise RecipeError(
            f"{_describe(fixed)}: differs from the run's recipe ({record}); a checkpoint in "
            f"{folder} cannot resume with another architecture or tokenizer. "
            "Restore the value, or start a new run (another run_name)"
        )
    new_run = f"start a new run from the checkpoint (run_name=NEW model.init_from={checkpoint})"
    restored = {k: v for k, v in changes.items() if _under(k, RESTORED)}
    reordered = {k: v for k, v in changes.items() if _reorders(k, previous, resolved)}
    for refused, why in (
        (restored, f"resuming restores it from the checkpoint in {folder}, so the "
                   "new value would be ignored"),
        (reordered, f"the checkpoint in {folder} resumes at a position in the run's "
                    "data order (which samples, in which order), which this changes (samples "
                    "would be skipped, seen twice or read otherwise)"),
    ):  # fmt: skip
        if refused:
            raise RecipeError(
                f"{_describe(refused)}: differs from the run's recipe ({record}); {why}. "
                f"Restore the value, or {new_run}"
            )
    if changes:
        log.info("relaunch with changed settings, applied: %s", _describe(changes))


def _recorded_recipe(recipe: TrainingSettings, folder: str) -> tuple[str, dict[str, Any] | None]:
    """The recipe the checkpoints in ``folder`` were trained with (from their record, else
    ``<run_dir>/recipe.yaml``), and where it was read; None, said in one line, when neither.
    """
    where = record_path(folder)
    try:
        record = read_record(folder)
    except RecipeError:
        raise
    except Exception as exc:  # an object store's own error, made one line
        log.warning("cannot read %s (%s); relaunch checks skipped", where, type(exc).__name__)
        return where, None
    if record is not None:
        return where, record["recipe"]
    legacy = Path(recipe.run_dir) / RUN_DIR_RECIPE
    if legacy.is_file():
        return str(legacy), yaml.safe_load(legacy.read_text()) or {}
    log.warning(
        "%s: no record of the recipe its checkpoints were trained with (%s); relaunch checks "
        "skipped",
        folder,
        where,
    )
    return where, None


def check_identity(recipe: TrainingSettings, identity: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint on another tokenizer or other training data than its own
    (``identity``: this launch's, :func:`biomedlm.run_record.run_identity`).
    """
    if not recipe.autoresume or not recipe.save_folder:
        return
    folder = composer_folder(recipe.save_folder, recipe.run_name)
    try:
        checkpoint = latest_checkpoint(folder)
        record = read_record(folder) if checkpoint is not None else None
    except Exception:  # an unreadable bucket or record: check_relaunch has said so
        return
    change = identity_change((record or {}).get("identity") or {}, identity)
    if change is not None:
        what, message = change
        raise RecipeError(
            f"{message} (per {record_path(folder)}). Use the run's own {what}, or "
            "start a new run from the checkpoint deliberately "
            f"(run_name=NEW model.init_from={checkpoint})"
        )
