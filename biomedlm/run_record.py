"""What a run's checkpoints were trained with, kept beside them in ``<save_folder>/run.yaml``:
the resolved recipe and the identity of its tokenizer and training streams (docs/reliability.md).

It lives beside the checkpoints, not in the run folder, so a new ``run_dir`` on an existing
``save_folder`` is checked the same way. A stream's identity is the digest of its
``index.json``, which lists every shard's size and sha1: the same samples wherever they are read.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from biomedlm.settings import RecipeError
from biomedlm.trained.names import composer_folder
from data_prep.document import PrepError
from data_prep.files import write_text_atomic
from data_prep.manifest import tokenizer_identity

RECORD = "run.yaml"
RUN_DIR_RECIPE = "recipe.yaml"  # <run_dir>/recipe.yaml: the recipe in effect, for people


def record_path(save_folder: str) -> str:
    """Where the record of the checkpoints in ``save_folder`` is (a path or an object URI); the
    folder as Composer uses it (:func:`biomedlm.trained.names.composer_folder`)."""
    return f"{save_folder.rstrip('/')}/{RECORD}"


def index_digest(index: Path) -> str:
    """The identity of an MDS split: the sha256 of its ``index.json`` (as data, not as text)."""
    data = json.loads(index.read_text())
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def run_identity(tokenizer_dir: str | Path, data: dict[str, str]) -> dict[str, Any]:
    """The identity a run trains with: its tokenizer's, and ``data`` (stream -> index digest)."""
    try:
        found = tokenizer_identity(tokenizer_dir)
    except PrepError as exc:
        raise RecipeError(f"tokenizer.path: {exc}") from None
    tokenizer = {"sha256": found["sha256"], "vocab_size": found["vocab_size"]}
    return {"tokenizer": {**tokenizer, "path": str(tokenizer_dir)}, "data": dict(data)}


def identity_change(recorded: dict[str, Any], current: dict[str, Any]) -> tuple[str, str] | None:
    """What differs between a recorded identity and this launch's: (what, a message's start);
    only streams both name are compared (adding one is a recipe change).
    """
    old, new = recorded.get("tokenizer") or {}, current["tokenizer"]
    if old.get("sha256") and old["sha256"] != new["sha256"]:
        return "tokenizer", (
            f"tokenizer: the tokenizer read now ({new['path']}, {new['vocab_size']} tokens) is "
            f"not the one the checkpoint was trained with ({old.get('path')}, "
            f"{old.get('vocab_size')} tokens): its token ids would mean other words"
        )
    for name, digest in sorted((recorded.get("data") or {}).items()):
        if name in current["data"] and current["data"][name] != digest:
            return "data", (
                f"{name}: its shards are not the ones the checkpoint was trained on (their "
                "index.json differs): the run would resume at its position in other samples"
            )
    return None


def read_record(save_folder: str) -> dict[str, Any] | None:
    """The record of ``save_folder``'s checkpoints (the folder as Composer uses it); None when it
    has none (or a run from before records were kept). A remote object store's own errors
    propagate."""
    where = record_path(save_folder)
    if "://" not in save_folder:
        path = Path(where)
        return _parse(where, path.read_text()) if path.is_file() else None
    from composer.utils import get_file

    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / RECORD
        try:
            get_file(where, str(local), progress_bar=False)
        except FileNotFoundError:
            return None
        return _parse(where, local.read_text())


def _parse(where: str, text: str) -> dict[str, Any]:
    try:
        record = yaml.safe_load(text)
    except yaml.YAMLError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("recipe"), dict):
        raise RecipeError(
            f"{where}: not a run record (a recipe and an identity); it is rewritten when "
            "training starts: remove it to relaunch unchecked"
        )
    return record


def write_record(save_folder: str, recipe: dict[str, Any], identity: dict[str, Any]) -> str:
    """Record what the checkpoints in ``save_folder`` are trained with (replacing it whole): in
    the folder Composer saves them in, ``save_folder``'s placeholders filled with the recipe's
    ``run_name``."""
    text = yaml.safe_dump({"recipe": recipe, "identity": identity}, sort_keys=False)
    save_folder = composer_folder(save_folder, recipe["run_name"])
    where = record_path(save_folder)
    if "://" not in save_folder:
        write_text_atomic(Path(where), text)
        return where
    from composer.utils import maybe_create_object_store_from_uri
    from composer.utils.file_helpers import parse_uri

    store = maybe_create_object_store_from_uri(save_folder)
    assert store is not None, save_folder  # a URI with a scheme always has a store
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / RECORD
        local.write_text(text)
        store.upload_object(parse_uri(where)[2], local)
    return where


def record_launch(run_dir: Path, recipe: dict[str, Any]) -> Path:
    """Keep a launch's resolved recipe in ``<run_dir>/launches/``; ``<run_dir>/recipe.yaml``
    becomes the one in effect (for people: relaunches are checked against the record)."""
    text = yaml.safe_dump(recipe, sort_keys=False)
    launches = run_dir / "launches"
    launches.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    kept = launches / f"{stamp}-recipe.yaml"
    n = 1
    while kept.exists():
        kept = launches / f"{stamp}.{n}-recipe.yaml"
        n += 1
    kept.write_text(text)
    write_text_atomic(run_dir / RUN_DIR_RECIPE, text)
    return kept
