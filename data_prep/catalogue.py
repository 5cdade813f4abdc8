"""Which evaluation sets to decontaminate against: the gauntlet's task catalogue, read as data.

data_prep is upstream of eval_gauntlet and never imports it; it reads the catalogue YAML
(``eval_gauntlet/tasks.yaml`` by default) and takes from it only what decontamination needs:

    tasks.<name>.data        JSONL file, relative to the catalogue's folder (required per task)
    tasks.<name>.group       the benchmark's name when tasks share a file (MMLU's subjects)
    tasks.<name>.pmid_field  a field holding the PMID of the item's abstract, if any; without
                             it, by ``format``: PubMedQA's ``realidx`` is its abstract's PMID
    tasks.<name>.schema      ``medmcqa``: the item's text is in ``opa``..``opd`` (and ``exp``)
    include                  further catalogue files (a path or a list), relative to this one;
                             ``default`` is the shipped catalogue

Every other key is ignored, so the catalogue can grow without this reader changing. A benchmark
file used by several tasks is indexed once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from data_prep.config import BenchmarkFile, DecontaminateConfig
from data_prep.document import PrepError
from strict_config import load_yaml

log = logging.getLogger(__name__)

PMID_FIELD_BY_FORMAT = {"pubmedqa": "realidx"}  # eval_gauntlet/data/README.md


SHIPPED = Path(__file__).resolve().parents[1] / "eval_gauntlet" / "tasks.yaml"  # include: default
TEXT_FIELDS_BY_SCHEMA = {"medmcqa": ["question", "opa", "opb", "opc", "opd", "exp"]}


def _entries(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, dict[str, Any], Path]]:
    """(task name, entry, file its data is relative to) of every task of ``path`` and its includes.

    As the gauntlet reads task files: includes first (``default`` is the shipped catalogue), and
    an entry whose name is already known overrides only the keys it writes.
    """
    if not path.is_file():
        raise PrepError(f"decontaminate.catalogue: {path} not found")
    if path.resolve() in seen:
        raise PrepError(f"{path}: includes itself")
    raw = OmegaConf.to_container(load_yaml(path, PrepError), resolve=False)
    if not isinstance(raw, dict):
        raise PrepError(f"{path}: a task catalogue is a mapping with a `tasks` key")
    includes = raw.get("include") or []
    merged: dict[str, tuple[dict[str, Any], Path]] = {}
    for include in [includes] if isinstance(includes, str) else includes:
        file = SHIPPED if include == "default" else path.parent / str(include)
        for name, entry, where in _entries(file, (*seen, path.resolve())):
            merged[name] = (entry, where)
    tasks = raw.get("tasks") or {}
    if not isinstance(tasks, dict):
        raise PrepError(f"{path}: tasks: expected a mapping of task names")
    for name, entry in tasks.items():
        if not isinstance(entry, dict):
            raise PrepError(f"{path}: tasks.{name}: expected a mapping")
        old, where = merged.get(str(name), ({}, path))
        merged[str(name)] = ({**old, **entry}, path if "data" in entry else where)
    for name, (entry, _) in merged.items():
        if not isinstance(entry.get("data"), str):
            raise PrepError(f"{path}: tasks.{name}.data: expected a JSONL path")
    return [(name, entry, where) for name, (entry, where) in merged.items()]


def catalogue_benchmarks(path: str | Path) -> dict[str, BenchmarkFile]:
    """The benchmark files of the catalogue at ``path``, by benchmark name (one per file)."""
    benchmarks: dict[str, BenchmarkFile] = {}
    files: set[Path] = set()
    for name, entry, where in _entries(Path(path)):
        data = (where.parent / entry["data"]).resolve()
        if data in files:
            continue
        files.add(data)
        label = str(entry.get("group") or name)
        if label in benchmarks:
            label = name
        pmid_field = entry.get("pmid_field") or PMID_FIELD_BY_FORMAT.get(str(entry.get("format")))
        fields = TEXT_FIELDS_BY_SCHEMA.get(str(entry.get("schema")))
        extra = {"text_fields": fields} if fields else {}
        benchmarks[label] = BenchmarkFile(path=str(data), pmid_field=pmid_field, **extra)
    return benchmarks


def benchmarks_to_check(cfg: DecontaminateConfig) -> dict[str, BenchmarkFile]:
    """``cfg.benchmarks`` then the catalogue's files not already listed; empty if disabled.

    Raises :class:`PrepError` when decontamination is enabled but there is nothing to check.
    """
    if not cfg.enabled:
        return {}
    chosen = dict(cfg.benchmarks)
    if cfg.catalogue is not None:
        listed = {Path(b.path).resolve() for b in chosen.values()}
        for name, spec in catalogue_benchmarks(cfg.catalogue).items():
            if Path(spec.path).resolve() not in listed and name not in chosen:
                chosen[name] = spec
    if not chosen:
        raise PrepError(
            "decontaminate: enabled, but no benchmark to check (set decontaminate.catalogue or "
            "decontaminate.benchmarks, or decontaminate.enabled=false to train on everything)"
        )
    return chosen
