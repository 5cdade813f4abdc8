"""Token ids of MDS shards without a data_prep manifest, checked against the tokenizer at launch:
the largest id of the first samples, which must fit (else an ``IndexError`` at the first batch).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from biomedlm.recipe import Recipe
from biomedlm.settings import RecipeError
from biomedlm.trained.kinds import first_line

log = logging.getLogger(__name__)

ID_SAMPLES = 4096  # samples of the first shards read for their largest token id
FETCH_TIMEOUT = 60.0  # seconds, streaming's own default for a file


def largest_token_id(split_dir: Path, remote: str | None = None) -> tuple[int, int] | None:
    """The largest token id in the first :data:`ID_SAMPLES` samples of an MDS split, and how many
    tokens were read (None without a ``tokens`` column). ``remote``: where the shards are.
    """
    from streaming.base.compression import decompress
    from streaming.base.format import reader_from_json
    from streaming.base.storage.download import CloudDownloader

    index = json.loads((split_dir / "index.json").read_text())
    largest, tokens, samples = -1, 0, 0
    with tempfile.TemporaryDirectory(prefix="token-ids-") as tmp:
        for shard in index.get("shards", []):
            if samples >= ID_SAMPLES or "tokens" not in shard.get("column_names", []):
                break
            raw = shard["raw_data"]["basename"]
            name = raw if (split_dir / raw).is_file() else shard["zip_data"]["basename"]
            path = split_dir / name
            if remote is not None and not path.is_file():
                path = Path(tmp) / name
                source = os.path.join(remote, split_dir.name, name)
                CloudDownloader.direct_download(source, str(path), FETCH_TIMEOUT)
            data = path.read_bytes()
            if name != raw:
                data = decompress(shard["compression"], data)
            (Path(tmp) / raw).write_bytes(data)
            reader = reader_from_json(tmp, "", shard)
            for i in range(min(reader.samples, ID_SAMPLES - samples)):
                ids = reader.get_item(i)["tokens"]
                largest = max(largest, int(ids.max()))
                tokens += ids.size
                samples += 1
    return (largest, tokens) if tokens else None


def check_token_ids(
    key: str, split_dir: Path, shown: str, recipe: Recipe, tokenizer: Any, remote: str | None
) -> None:
    """Shards without a manifest: their token ids must fit the tokenizer; a largest id far below
    its size (shards of a smaller tokenizer, most likely) is said in one line."""
    try:
        found = largest_token_id(split_dir, remote)
    except Exception as exc:  # a shard streaming cannot read: the loader will say more
        log.warning(
            "%s: no manifest.json, and its shards cannot be read for token ids (%s)",
            shown,
            first_line(exc),
        )
        return
    if found is None:
        log.warning("%s: no manifest.json and no tokens column; tokenizer fit not checked", shown)
        return
    largest, tokens = found
    n = len(tokenizer)
    if largest >= n:
        raise RecipeError(
            f"{key}: the shards at {shown} hold token id {largest} but tokenizer.path="
            f"{recipe.tokenizer.path} has {n} tokens (no manifest.json beside them says which "
            "tokenizer made them); use the tokenizer the shards were made with"
        )
    if largest < n // 2:
        log.warning(
            "%s: no manifest.json, and the largest token id in its first %d tokens is %d while "
            "tokenizer.path=%s has %d tokens: these shards were most likely made with a smaller "
            "tokenizer; train on them only with the tokenizer that made them",
            shown, tokens, largest, recipe.tokenizer.path, n,
        )  # fmt: skip
    else:
        log.warning(
            "%s: no manifest.json; its token ids fit the tokenizer (largest %d of %d tokens), "
            "which is all that is checked", shown, largest, n,
        )  # fmt: skip
