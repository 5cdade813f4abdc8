"""A Hugging Face hub id (``stanford-crfm/BioMedLM``) wherever a model's path is expected: its
snapshot through huggingface_hub's own cache and offline mode; a local path of that name wins.
"""

from __future__ import annotations

from pathlib import Path

from biomedlm.trained.kinds import CheckpointError, first_line

# weights of other frameworks a model repository may hold beside PyTorch's
NOT_TORCH = ["*.msgpack", "*.h5", "*.ot", "*.onnx", "*.tflite", "*.gguf"]


class HubMiss(CheckpointError):
    """A hub id that is neither a local path nor a model huggingface_hub can find; one line."""


def is_hub_id(spec: str) -> bool:
    """Whether ``spec`` reads as a hub model id, ``owner/name`` (huggingface_hub's rules)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if spec.count("/") != 1 or spec.startswith((".", "/", "~")):
        return False
    try:
        validate_repo_id(spec)
    except HFValidationError:
        return False
    return True


def locate(spec: str | Path) -> Path:
    """``spec`` as a local path: itself when it exists or is not a hub id, else the snapshot
    folder of hub model ``spec``; :class:`HubMiss` when it cannot be found.
    """
    path = Path(spec)
    return path if path.exists() or not is_hub_id(str(spec)) else Path(snapshot(str(spec)))


def snapshot(repo_id: str) -> str:
    """The local snapshot folder of hub model ``repo_id`` (its default revision)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    offline = constants.HF_HUB_OFFLINE
    try:
        return snapshot_download(repo_id, local_files_only=offline, ignore_patterns=NOT_TORCH)
    except LocalEntryNotFoundError:
        how = (
            "HF_HUB_OFFLINE=1 reads only the cache: download it with "
            f"`huggingface-cli download {repo_id}`, or unset HF_HUB_OFFLINE"
            if offline
            else f"and it cannot be downloaded now: `huggingface-cli download {repo_id}`"
        )
        raise HubMiss(
            f"{repo_id}: no such local path, and no Hugging Face hub model of that id in the "
            f"cache ({constants.HF_HUB_CACHE}); {how}"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as exc:  # not found, gated, no network...
        raise HubMiss(
            f"{repo_id}: no such local path, and the Hugging Face hub cannot give it "
            f"({type(exc).__name__}: {first_line(exc)})"
        ) from None


def revision_of(folder: Path) -> str | None:
    """The commit a hub snapshot folder holds (``.../snapshots/<sha>``), None for another folder."""
    parts = folder.absolute().parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return parts[-1]
    return None
