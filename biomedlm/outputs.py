"""Launch check of where a run writes: ``run_dir``, ``save_folder``, each callback's ``save_folder``.

Else a read-only folder or a missing bucket fails in a traceback at the first checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from biomedlm.settings import RecipeError, TrainingSettings
from biomedlm.trained.names import composer_folder
from data_prep.files import write_refused

BUCKET_FIX = "a bucket this run can write (credentials, S3_ENDPOINT_URL)"


def _bucket_refused(uri: str) -> str | None:
    """Why the bucket of ``uri`` cannot be listed (missing, no credentials, unreachable), or None."""
    from composer.utils import parse_uri
    from composer.utils.file_helpers import BACKEND_TO_OBJECT_STORE_FACTORY

    backend, bucket, path = parse_uri(uri)
    if backend not in BACKEND_TO_OBJECT_STORE_FACTORY:  # dbfs, wandb...: left to Composer
        return None
    try:  # one listing request: a name nothing has under the folder
        store = BACKEND_TO_OBJECT_STORE_FACTORY[backend](bucket, path)
        store.list_objects(f"{path.strip('/')}/.launch-check")
    except Exception as exc:  # each store's client raises its own errors
        why = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {why}" if why else type(exc).__name__
    return None


def check_outputs(recipe: TrainingSettings) -> None:
    """Every folder ``recipe`` writes can be written (a probe file; a bucket listed once); raises
    :class:`RecipeError` naming the key.
    """
    saves = recipe.save_folder and composer_folder(recipe.save_folder, recipe.run_name)
    folders = {"run_dir": recipe.run_dir, "save_folder": saves}  # as Composer writes to them
    for name, args in recipe.callbacks.items():
        if args is not None and isinstance(args.get("save_folder"), str):
            folders[f"callbacks.{name}.save_folder"] = args["save_folder"]
    for key, folder in folders.items():
        if folder is None:
            continue
        remote = "://" in folder
        why = _bucket_refused(folder) if remote else write_refused(Path(folder).absolute())
        if why is not None:
            fix = BUCKET_FIX if remote else "a folder this run can write"
            raise RecipeError(f"{key}: cannot write to {folder} ({why}); point it at {fix}")
