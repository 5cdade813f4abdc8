"""Fine-tuning data read as released: one :class:`Example` per question, every problem one line.

Formats (``data.format``, or a ``format:`` prefix on an entry):

- ``medqa``: JSONL ``question``, ``options`` (letter -> text), ``answer_idx``; optional
  ``realidx``/``id``, ``subject`` (the gauntlet's task files too).
- ``medmcqa``: JSONL ``question``, ``opa`` .. ``opd``, ``cop``, ``id``; the release counts
  ``cop`` from 1, the hub copy from 0: ``data.cop_base`` says which (out of range: an error).
- ``pubmedqa``: the release's PMID -> {``QUESTION``, ``CONTEXTS``, ``final_decision``}; the whole
  ``ori_pqal.json`` beside ``test_ground_truth.json`` is split 450/50/500 (:mod:`.pubmedqa_split`).
- ``bioasq``: BLURB's TSV ``id, question, context, label``, or JSON lines with
  ``question``/``sentence1`` and ``context``/``sentence2`` (the scripts' ``*_hf`` files).

Within one file every question has the same number of options; files may differ. The examples
of each part of a recipe's data: its files, ``data.split``, limits, subjects (:func:`part_examples`).
"""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from biomedlm.finetune.choice.pubmedqa_split import DEV_PMIDS, GROUND_TRUTH
from biomedlm.finetune.recipe import DataConfig, DataError, TestSetConfig
from medtasks.answers import MEDMCQA_OPTIONS, answer_index, cop_index
from medtasks.jsonl import json_objects

CHOICE_FORMATS = ("medqa", "medmcqa")
LABELS = {"pubmedqa": ("yes", "no", "maybe"), "bioasq": ("yes", "no")}
FORMATS = (*CHOICE_FORMATS, *LABELS)
SUFFIXES = (".json", ".jsonl", ".tsv")


@dataclass(frozen=True)
class Example:
    """One question: its option texts (multiple choice) or label names (classification)."""

    key: str  # a stable id: the row's id, PMID, or the question text
    source: str  # "file:line" (or "file: PMID n"), for messages and predictions
    question: str
    options: tuple[str, ...]
    label: int  # index of the gold option / label
    context: str = ""  # classification: the passage the question is about
    subject: str | None = None  # MMLU's subject


@dataclass(frozen=True)
class Source:
    """One data file and the format it is read in."""

    path: Path
    format: str


def _text(row: dict[str, Any], name: str, where: str) -> str:
    if name not in row:
        raise DataError(f"{where}: missing column '{name}'")
    value = row[name]
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: '{name}' must be a non-empty string")
    return value.strip()


def _key(row: dict[str, Any], question: str) -> str:
    for name in ("id", "realidx"):
        if row.get(name) is not None:
            return str(row[name])
    return question


def _subject(row: dict[str, Any], name: str) -> str | None:
    subject = row.get(name)
    return subject if isinstance(subject, str) else None


def _medqa(path: Path, cop_base: int | None) -> Iterator[Example]:
    for line_no, row in json_objects(path, error=DataError):
        where = f"{path}:{line_no}"
        question = _text(row, "question", where)
        options = row.get("options")
        if not isinstance(options, dict) or len(options) < 2:
            raise DataError(f"{where}: 'options' must map letters to at least two option texts")
        texts = tuple(str(v).strip() for v in options.values())
        if not all(texts):
            raise DataError(f"{where}: every option must be a non-empty string")
        gold = answer_index(options, row.get("answer_idx"), where, error=DataError)
        subject = _subject(row, "subject")
        yield Example(_key(row, question), where, question, texts, gold, subject=subject)


def _medmcqa(path: Path, cop_base: int | None) -> Iterator[Example]:
    if cop_base is None:
        raise DataError(
            f"{path}: MedMCQA's 'cop' counts from 1 in the release and from 0 in the Hugging Face "
            "copy; set data.cop_base=1 or data.cop_base=0"
        )
    for line_no, row in json_objects(path, error=DataError):
        where = f"{path}:{line_no}"
        question = _text(row, "question", where)
        options = tuple(_text(row, name, where) for name in MEDMCQA_OPTIONS.values())
        if "cop" not in row:
            raise DataError(f"{where}: missing column 'cop'")
        gold = cop_index(
            row["cop"], cop_base, len(options), where, key="data.cop_base", error=DataError
        )
        subject = _subject(row, "subject_name")
        yield Example(_key(row, question), where, question, options, gold, subject=subject)


def _pubmedqa_part(path: Path, items: dict[str, Any], part: str) -> list[str]:
    """The PMIDs of ``items`` that ``part`` takes (all of them for a file of one part)."""
    truth_path = path.parent / GROUND_TRUTH
    if not truth_path.is_file():
        if len(items) > 500 or set(items) >= DEV_PMIDS:
            raise DataError(
                f"{path}: the whole PubMedQA release needs its {GROUND_TRUTH} beside it to "
                "split off the test set; copy it from the release"
            )
        return list(items)
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    for pmid, label in truth.items():
        if pmid in items and items[pmid].get("final_decision") != label:
            raise DataError(f"{path}: PMID {pmid}: final_decision differs from {truth_path}")
    parts = {
        "test": [p for p in items if p in truth],
        "validation": [p for p in items if p in DEV_PMIDS],
        "train": [p for p in items if p not in truth and p not in DEV_PMIDS],
    }
    if sum(bool(pmids) for pmids in parts.values()) == 1:  # a file of one part: all of it
        return list(items)
    return parts[part]


def _pubmedqa(path: Path, part: str) -> Iterator[Example]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(items, dict) or not all(isinstance(v, dict) for v in items.values()):
        raise DataError(
            f"{path}: expected PubMedQA's PMID -> item object (ori_pqal.json); a file of "
            "labels only (test_ground_truth.json) is read beside ori_pqal.json, not named"
        )
    labels = LABELS["pubmedqa"]
    for pmid in _pubmedqa_part(path, items, part):
        row, where = items[pmid], f"{path}: PMID {pmid}"
        contexts = row.get("CONTEXTS")
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise DataError(f"{where}: missing column 'CONTEXTS' (a list of paragraphs)")
        decision = row.get("final_decision")
        if decision not in labels:
            raise DataError(f"{where}: final_decision {decision!r} is not one of {labels}")
        context = " ".join(c.strip() for c in contexts if c.strip())
        question = _text(row, "QUESTION", where)
        yield Example(pmid, where, question, labels, labels.index(decision), context)


def _bioasq_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if path.suffix == ".tsv":
        with path.open(encoding="utf-8", newline="") as lines:
            for line_no, cells in enumerate(csv.reader(lines, delimiter="\t"), start=1):
                if not cells or (line_no == 1 and cells[-1].strip().lower() == "label"):
                    continue
                if len(cells) != 4:
                    raise DataError(
                        f"{path}:{line_no}: expected 4 tab-separated columns "
                        f"(id, question, context, label), got {len(cells)}"
                    )
                keys = ("id", "question", "context", "label")
                yield f"{path}:{line_no}", dict(zip(keys, cells, strict=True))
        return
    for line_no, row in json_objects(path, error=DataError):
        renamed = {"question": row.get("sentence1"), "context": row.get("sentence2")}
        yield f"{path}:{line_no}", {**{k: v for k, v in renamed.items() if v is not None}, **row}


def _bioasq(path: Path, cop_base: int | None) -> Iterator[Example]:
    labels = LABELS["bioasq"]
    for where, row in _bioasq_rows(path):
        question, context = _text(row, "question", where), _text(row, "context", where)
        if "label" not in row:
            raise DataError(f"{where}: missing column 'label'")
        label = str(row["label"]).strip().lower()
        if label not in labels:
            raise DataError(f"{where}: label {row['label']!r} is not one of {labels}")
        yield Example(_key(row, question), where, question, labels, labels.index(label), context)


def read_file(source: Source, part: str, cop_base: int | None = None) -> list[Example]:
    """The examples of one file (of ``part``, for PubMedQA's whole release); raises DataError."""
    if not source.path.is_file():
        raise DataError(f"{source.path}: no such file")
    read = {"medqa": _medqa, "medmcqa": _medmcqa, "bioasq": _bioasq}.get(source.format)
    examples = list(read(source.path, cop_base) if read else _pubmedqa(source.path, part))
    if not examples:
        raise DataError(f"{source.path}: no examples in the file (empty, or none of this part)")
    if len({len(e.options) for e in examples}) > 1:
        first = next(e for e in examples if len(e.options) != len(examples[0].options))
        raise DataError(
            f"{first.source}: {len(first.options)} options, but the file's first question has "
            f"{len(examples[0].options)}; every question of a file has the same number"
        )
    return examples


def resolve(key: str, entries: Sequence[str], default_format: str) -> list[Source]:
    """The files named by ``entries`` (files, folders, globs; ``format:`` prefixes), in order."""
    sources = []
    for entry in entries:
        fmt, sep, rest = entry.partition(":")
        fmt, spec = (fmt, rest) if sep and fmt in FORMATS else (default_format, entry)
        if fmt not in FORMATS:
            raise DataError(f"{key}: format {fmt!r} is not one of {', '.join(FORMATS)}")
        path = Path(spec)
        if path.is_dir():  # PubMedQA's labels file is read beside ori_pqal.json, not as data
            found = sorted(
                p
                for p in path.iterdir()
                if p.suffix in SUFFIXES and not (fmt == "pubmedqa" and p.name == GROUND_TRUTH)
            )
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
        if not found:
            raise DataError(f"{key}: no file matches {spec}")
        sources += [Source(p, fmt) for p in found]
    return sources


def read_entries(key: str, entries: Sequence[str], data: DataConfig, part: str) -> list[Example]:
    """Every example of the files ``entries`` name (``key`` names them in messages)."""
    examples = []
    for source in resolve(key, entries, data.format):
        examples += read_file(source, part, data.cop_base)
    return examples


def part_examples(data: DataConfig, part: str) -> list[Example]:
    """The examples of ``part`` (train, validation or test); empty when the recipe has none."""
    listed = getattr(data, part)  # data.train, data.validation or data.test
    split = data.split
    if part == "train" or (not listed and split is not None):
        examples = read_entries("data.train", data.train, data, "train")
        if split is not None:  # the train part, or what data.split takes out of it
            examples = [e for e in examples if split.part(e.question) == part]
    elif listed:
        examples = read_entries(f"data.{part}", listed, data, part)
    else:
        return []
    return examples[: {"train": data.train_limit, "test": data.test_limit}.get(part)]


def extra_examples(name: str, test_set: TestSetConfig, data: DataConfig) -> list[Example]:
    """The examples of one ``eval.extra`` test set, read in its own format."""
    key, subject = f"eval.extra.{name}.path", test_set.subject
    examples = read_entries(key, test_set.path, replace(data, format=test_set.format), "test")
    if subject is not None:
        examples = [e for e in examples if e.subject == subject]
        if not examples:
            raise DataError(
                f"{key}: no question of subject {subject!r} in {', '.join(test_set.path)}"
            )
    return examples[: data.test_limit]
