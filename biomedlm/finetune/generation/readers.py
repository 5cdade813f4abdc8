"""Release files -> source/target examples; each reader counts what it skipped, and bad input
stops with one line naming the file (and line). The formats, as released:

- ``medquad``: an XML file per document, ``QAPair`` > ``Question`` (``qid``, ``qtype``) and
  ``Answer``; collections whose answers were removed upstream are skipped (``empty_answer``).
  Question type, focus and collection are kept for breakdowns.
- ``meqsum``: MeQSum's workbook, header row with ``File``, ``CHQ`` and ``Summary`` (openpyxl).
- ``jsonl``: ``prompt`` (source), ``response`` (target), optional ``id``; other fields kept.
"""

from __future__ import annotations

import glob
import logging
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from biomedlm.finetune.recipe import DataError
from biomedlm.generation_layout import clean
from medtasks.jsonl import json_objects

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One source -> target pair, with what is known about it (question type, collection...)."""

    id: str
    source: str
    target: str
    meta: dict[str, str] = field(default_factory=dict)


Reader = Callable[[Path, Counter[str]], Iterator[Example]]


# The release's documents come in three schemas: ``Document`` (most), ``DiseaseFile`` (some CDC
# files) and an older lower-case one (``doc`` > ``doctitle-focus``, ``qaPairs`` > ``pair`` >
# ``question`` / ``answer``: four NINDS files).
MEDQUAD_ROOTS = {"Document": "id", "DiseaseFile": "fid", "doc": "docid"}
MEDQUAD_TAGS = {"pair": ("QAPair", "pair"), "question": ("Question", "question"),
                "answer": ("Answer", "answer"), "focus": ("Focus", "doctitle-focus")}  # fmt: skip


def _child(element: ET.Element, role: str) -> ET.Element | None:
    return next((c for c in element if c.tag in MEDQUAD_TAGS[role]), None)


def read_medquad(path: Path, skipped: Counter[str]) -> Iterator[Example]:
    """The question/answer pairs of one MedQuAD document."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path}: malformed XML ({exc})") from None
    if root.tag not in MEDQUAD_ROOTS:
        raise DataError(
            f"{path}: not a MedQuAD document (root <{root.tag}>, expected "
            f"{' or '.join(f'<{r}>' for r in MEDQUAD_ROOTS)})"
        )
    doc_id = root.get(MEDQUAD_ROOTS[root.tag]) or path.stem
    focus = _child(root, "focus")
    meta = {"focus": clean(focus.text if focus is not None else ""), "collection": path.parent.name}
    for n, pair in enumerate([e for e in root.iter() if e.tag in MEDQUAD_TAGS["pair"]], start=1):
        question, answer = _child(pair, "question"), _child(pair, "answer")
        source = clean(question.text if question is not None else "")
        if question is None or not source:
            raise DataError(f"{path}: question-answer pair {n} has no question text")
        target = clean(answer.text if answer is not None else "")
        if not target:
            skipped["empty_answer"] += 1
            continue
        qid = question.get("qid") or f"{doc_id}-{n}"  # unique within a collection only
        yield Example(
            f"{path.parent.name}/{qid}",
            source,
            target,
            {**meta, "qtype": question.get("qtype") or ""},
        )


MEQSUM_COLUMNS = ("File", "CHQ", "Summary")


def read_meqsum(path: Path, skipped: Counter[str]) -> Iterator[Example]:
    """MeQSum's workbook: ``CHQ`` -> ``Summary``, ``File`` as the id (first sheet)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        raise DataError(f"{path}: not a readable Excel workbook ({type(exc).__name__})") from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(cell).strip() if cell is not None else "" for cell in next(rows, ())]
        missing = [name for name in MEQSUM_COLUMNS if name not in header]
        if missing:
            raise DataError(
                f"{path}: no column {', '.join(missing)} in the header row "
                f"(found: {', '.join(h for h in header if h)})"
            )
        at = {name: header.index(name) for name in MEQSUM_COLUMNS}
        for line, row in enumerate(rows, start=2):
            cells = {name: row[i] if i < len(row) else None for name, i in at.items()}
            if all(value is None for value in cells.values()):
                continue
            source, target = clean(str(cells["CHQ"] or "")), clean(str(cells["Summary"] or ""))
            if not source or not target:
                skipped["empty_question_or_summary"] += 1
                continue
            yield Example(str(cells["File"] or f"{path.name}:{line}"), source, target)
    finally:
        book.close()


def read_jsonl(path: Path, skipped: Counter[str]) -> Iterator[Example]:
    """``{"prompt": source, "response": target, "id"?: ...}`` per line."""
    for line_no, row in json_objects(path, error=DataError):
        for key in ("prompt", "response"):
            if not isinstance(row.get(key), str):
                raise DataError(f"{path}:{line_no}: no string {key!r} (a row has prompt, response)")
        source, target = clean(row["prompt"]), clean(row["response"])
        if not source or not target:
            skipped["empty_prompt_or_response"] += 1
            continue
        meta = {
            k: str(v)
            for k, v in row.items()
            if k not in ("prompt", "response", "id") and isinstance(v, (str, int, float))
        }
        yield Example(str(row.get("id", f"{path.name}:{line_no}")), source, target, meta)


FORMATS: dict[str, tuple[Reader, tuple[str, ...]]] = {
    "medquad": (read_medquad, (".xml",)),
    "meqsum": (read_meqsum, (".xlsx",)),
    "jsonl": (read_jsonl, (".jsonl", ".json")),
}


def expand(patterns: Sequence[str], suffixes: tuple[str, ...], key: str) -> list[Path]:
    """Files named by ``patterns`` (files, folders read recursively, globs), sorted per pattern."""
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True)) or [Path(pattern)]
        found = []
        for match in matches:
            if match.is_dir():
                found += sorted(
                    p for p in match.rglob("*") if p.is_file() and p.name.endswith(suffixes)
                )
            elif match.is_file():
                found.append(match)
        if not found:
            raise DataError(
                f"{key}: {pattern!r} names no {'/'.join(suffixes)} file (a file, folder or glob)"
            )
        files += found
    return files


def read_examples(
    fmt: str, patterns: Sequence[str], key: str
) -> tuple[list[Example], Counter[str]]:
    """Every example in the files ``patterns`` name, read as ``fmt``; and the skip counts."""
    if fmt not in FORMATS:
        raise DataError(f"data.format: {fmt!r} is not a generation format ({', '.join(FORMATS)})")
    reader, suffixes = FORMATS[fmt]
    skipped: Counter[str] = Counter()
    files = expand(patterns, suffixes, key)
    examples = [example for path in files for example in reader(path, skipped)]
    log.info(
        "%s: %d examples from %d %s file(s)%s", key, len(examples), len(files), fmt,
        "".join(f", {n} skipped ({why})" for why, n in sorted(skipped.items())),
    )  # fmt: skip
    return examples, skipped
