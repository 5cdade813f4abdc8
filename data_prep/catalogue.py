"""Which evaluation sets to decontaminate against: the data files of the task catalogue (parsed
by :mod:`medtasks.catalogue`, as the gauntlet parses it), a file several tasks share once."""

from __future__ import annotations

from pathlib import Path

from data_prep.config import BenchmarkFile, DecontaminateConfig
from data_prep.document import PrepError
from medtasks.catalogue import read_catalogue

PMID_FIELD_BY_FORMAT = {"pubmedqa": "realidx"}  # medtasks/data/README.md
TEXT_FIELDS_BY_SCHEMA = {"medmcqa": ["question", "opa", "opb", "opc", "opd", "exp"]}


def catalogue_benchmarks(path: str | Path) -> dict[str, BenchmarkFile]:
    """The benchmark files of the catalogue at ``path``, by benchmark name (one per file)."""
    if not Path(path).is_file():
        raise PrepError(f"decontaminate.catalogue: {path} not found")
    benchmarks: dict[str, BenchmarkFile] = {}
    files: set[Path] = set()
    for name, merged in read_catalogue(path, error=PrepError).items():
        entry = merged.entry
        if entry.data is None:
            raise PrepError(f"{merged.origin}: tasks.{name}.data: expected a JSONL path")
        data = Path(entry.data).resolve()
        if data in files:
            continue
        files.add(data)
        label = entry.group or name
        if label in benchmarks:
            label = name
        pmid_field = entry.pmid_field or PMID_FIELD_BY_FORMAT.get(str(entry.format))
        fields = TEXT_FIELDS_BY_SCHEMA.get(str(entry.schema))
        extra = {"text_fields": fields} if fields else {}
        benchmarks[label] = BenchmarkFile(path=str(data), pmid_field=pmid_field, **extra)
    return benchmarks


def benchmarks_to_check(cfg: DecontaminateConfig) -> dict[str, BenchmarkFile]:
    """``cfg.benchmarks`` then the catalogue's files not already listed; empty if disabled. An entry
    named as a catalogue benchmark but holding another file is an error (it would replace it)."""
    if not cfg.enabled:
        return {}
    chosen = dict(cfg.benchmarks)
    if cfg.catalogue is not None:
        listed = {Path(b.path).resolve() for b in chosen.values()}
        for name, spec in catalogue_benchmarks(cfg.catalogue).items():
            if Path(spec.path).resolve() in listed:
                continue
            if name in chosen:  # adding a file must not silently drop the catalogue's
                raise PrepError(
                    f"decontaminate.benchmarks.{name}: the catalogue has a benchmark {name!r} "
                    f"({spec.path}); rename this entry to check {chosen[name].path} as well"
                )
            chosen[name] = spec
    if not chosen:
        raise PrepError(
            "decontaminate: enabled, but no benchmark to check (set decontaminate.catalogue or "
            "decontaminate.benchmarks, or decontaminate.enabled=false to train on everything)"
        )
    return chosen
