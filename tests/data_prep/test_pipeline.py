"""The whole data-prep pipeline on the shipped samples: outputs, manifest, restart, bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streaming import StreamingDataset

from data_prep.config import load_config
from data_prep.document import PrepError
from data_prep.pipeline import run

pytestmark = pytest.mark.xdist_group("streaming")  # tests/conftest.py says why

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data_prep" / "samples"
EVAL = REPO / "medtasks" / "data"
# One PubMedQA *test* abstract, planted in the corpus twice: under its own PMID, and as the
# text of a document with another id. Decontamination must remove both.
PLANTED = json.loads((EVAL / "pubmedqa_labeled_test.jsonl").open().readline())


def write_config(tmp_path: Path, sources: list[dict], **extra: object) -> Path:
    cfg = {
        "sources": sources,
        "output_dir": str(tmp_path / "out"),
        "workers": 2,
        "split": {"validation_fraction": 0.1},
        "tokenizer": {"vocab_size": 2000},
        "pack": {"seq_len": 128, "size_limit": "1mb"},
        "decontaminate": {
            "catalogue": str(REPO / "medtasks" / "tasks.yaml"),
            "benchmarks": {
                "medqa": {"path": str(EVAL / "medqa_usmle_4opt_test.jsonl")},
                "pubmedqa": {
                    "path": str(EVAL / "pubmedqa_labeled_test.jsonl"),
                    "pmid_field": "realidx",
                },
                "mmlu_medical": {"path": str(EVAL / "mmlu_medical_test.jsonl")},
            },
        },
        **extra,
    }
    path = tmp_path / "prep.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real samples plus a JSONL with the planted test abstract and a duplicate."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copy(SAMPLES / "pubmed" / "medline16n0902.xml.gz", root)
    for nxml in sorted((SAMPLES / "pmc").glob("*.nxml"))[:2]:
        shutil.copy(nxml, root)
    context = PLANTED["question"].rsplit("\n", 1)[0]
    extra = [
        {
            "id": f"pmid:{PLANTED['realidx']}",
            "text": "An unrelated text " * 30,
            "pmid": PLANTED["realidx"],
        },
        {"id": "mine:1", "text": "Preface of my own words here. " + context},
        {
            "id": "mine:2",
            "text": "A clean document about renal physiology and sodium transport. " * 5,
        },
        {
            "id": "mine:3",
            "text": "A clean document about renal physiology and sodium transport. " * 5,
        },
    ]
    (root / "extra.jsonl").write_text("".join(json.dumps(r) + "\n" for r in extra))
    return root


def sources_for(corpus: Path) -> list[dict]:
    return [
        {"kind": "medline", "path": str(corpus / "*.xml.gz")},
        {"kind": "pmc", "path": str(corpus / "*.nxml")},
        {"kind": "jsonl", "name": "mine", "path": str(corpus / "extra.jsonl")},
    ]


@pytest.fixture(scope="module")
def prepared(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("prep")
    cfg = load_config(write_config(tmp, sources_for(corpus)))
    return Path(cfg.output_dir), run(cfg)


def test_outputs_and_manifest(prepared: tuple[Path, dict]) -> None:
    out, manifest = prepared
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "manifest.json",
        "tokenizer",
        "train",
        "validation",
    ]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [
        ".current",
        ".lock",
        ".sets",
        ".work",
    ]
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(manifest))
    sources = manifest["sources"]
    assert sources["medline"]["files"] == 1 and sources["pmc"]["files"] == 2
    assert sources["medline"]["skipped"]["no_abstract"] > 0
    assert sources["pmc"]["dropped"]  # references, tables, figures counted
    removed = manifest["decontamination"]["removed"]
    assert removed["pubmedqa"] == {"pmid": 1, "ngram": 1, "total": 2}
    assert manifest["deduplication"]["duplicate_text"] >= 1
    train = manifest["splits"]["train"]
    assert train["documents"] > 300 and train["samples"] == train["tokens"] // 128
    assert manifest["tokenizer"]["requested_vocab_size"] == 2000
    assert manifest["tokenizer"]["vocab_size"] <= 2000
    assert manifest["versions"]["tokenizers"] and manifest["config"]["pack"]["seq_len"] == 128
    assert set(manifest["timings"]) >= {"extract", "select", "tokenizer", "pack", "total"}


def test_planted_abstract_is_not_in_the_shards(prepared: tuple[Path, dict]) -> None:
    out, _ = prepared
    texts = (out / ".work" / "text" / "train.jsonl").read_text() + (
        out / ".work" / "text" / "validation.jsonl"
    ).read_text()
    ids = {json.loads(line)["id"] for line in texts.splitlines()}
    assert f"pmid:{PLANTED['realidx']}" not in ids and "mine:1" not in ids
    assert len([i for i in ids if i in ("mine:2", "mine:3")]) == 1


def test_shards_read_back_with_eos_between_documents(prepared: tuple[Path, dict]) -> None:
    out, manifest = prepared
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    dataset = StreamingDataset(local=str(out / "train"), batch_size=1, shuffle=False)
    assert len(dataset) == manifest["splits"]["train"]["samples"]
    tokens = np.concatenate([dataset[i]["tokens"] for i in range(len(dataset))])
    assert tokens.dtype == np.uint16
    eos = tokenizer.eos_token_id
    n_eos = int((tokens == eos).sum())
    # one EOS per document, but for those in the dropped tail of the last partial sample
    assert (
        manifest["splits"]["train"]["documents"] - 5
        <= n_eos
        <= manifest["splits"]["train"]["documents"]
    )
    first_doc = tokenizer.decode(tokens[: int(np.argmax(tokens == eos))])
    first = json.loads((out / ".work" / "text" / "train.jsonl").open().readline())["text"]
    assert first_doc == first


def test_rerun_skips_finished_stages_and_changes_nothing(
    prepared: tuple[Path, dict], corpus: Path
) -> None:
    out, first = prepared
    before = {p: p.stat().st_mtime_ns for p in (out / "train").iterdir()}
    cfg = load_config(out.parent / "prep.yaml")
    second = run(cfg)
    assert all(second["timings"][s] == "cached" for s in ("extract", "select", "tokenizer", "pack"))
    assert {p: p.stat().st_mtime_ns for p in (out / "train").iterdir()} == before
    assert second["splits"] == first["splits"] and second["sources"] == first["sources"]


def test_changed_pack_config_redoes_only_packing(
    prepared: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _first = prepared
    cfg = load_config(out.parent / "prep.yaml", ["pack.seq_len=64"])
    cfg.output_dir = str(tmp_path / "copy")
    shutil.copytree(out, cfg.output_dir)
    manifest = run(cfg)
    assert (
        manifest["timings"]["extract"] == "cached" and manifest["timings"]["tokenizer"] == "cached"
    )
    assert manifest["timings"]["pack"] != "cached"
    assert manifest["splits"]["train"]["samples"] == manifest["splits"]["train"]["tokens"] // 64


def test_interrupted_pack_leaves_no_half_written_output(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import data_prep.pipeline as pipeline

    def crash(*args: object, **kwargs: object) -> None:
        out_dir = Path(args[2])
        (out_dir / "shard.00000.mds").write_bytes(b"partial")
        raise KeyboardInterrupt

    cfg = load_config(write_config(tmp_path, sources_for(corpus)[:1]))
    monkeypatch.setattr(pipeline, "pack_split", crash)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    out = Path(cfg.output_dir)
    assert not (out / "train").exists() and not (out / "manifest.json").exists()
    assert [p for p in out.iterdir() if p.name.startswith(".train")] == []
    monkeypatch.undo()
    manifest = run(cfg)  # the restart reuses the finished stages
    assert manifest["timings"]["extract"] == "cached" and manifest["timings"]["pack"] != "cached"
    assert (out / "train" / "index.json").is_file()


def test_cli_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from data_prep.__main__ import main

    monkeypatch.chdir(REPO)

    def cli(*args: str) -> tuple[int, str]:
        code = main(list(args))
        return code, capsys.readouterr().err.strip().splitlines()[-1]

    nothing = write_config(tmp_path, [{"kind": "medline", "path": str(tmp_path / "none/*.xml")}])
    code, last = cli(str(nothing))
    assert code == 2
    assert (
        last.startswith("error: sources[0] (medline): path")
        and "none/*.xml' matches no file" in last
    )
    code, last = cli("recipes/data/sample.yaml", "tokenizer.vocab_sise=10")
    assert code == 2 and "tokenizer.vocab_sise" in last and "vocab_size" in last
    code, last = cli("recipes/data/sample.yaml", "sources.0.kind=pubmed")
    assert code == 2 and "unknown kind 'pubmed'" in last
    result = subprocess.run(  # the module entry point itself
        [sys.executable, "-m", "data_prep", "recipes/data/sample.yaml", "pack.seq_len=0"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: recipes/data/sample.yaml: pack.seq_len: must be at least 1, got 0"
    ]


def test_empty_corpus_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "tiny.jsonl").write_text(json.dumps({"id": "a", "text": "too short"}) + "\n")
    cfg = load_config(
        write_config(tmp_path, [{"kind": "jsonl", "path": str(tmp_path / "tiny.jsonl")}])
    )
    with pytest.raises(PrepError, match="empty corpus"):
        run(cfg)
    assert not (Path(cfg.output_dir) / "manifest.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cfg = load_config(write_config(tmp_path, [{"kind": "jsonl", "path": str(SAMPLES / "*.jsonl")}]))
    cfg.output_dir = str(locked / "out")
    with pytest.raises(PrepError, match="not writable"):
        run(cfg)


def test_unwritable_output_folder_as_root(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cfg = load_config(write_config(tmp_path, [{"kind": "jsonl", "path": str(SAMPLES / "*.jsonl")}]))
    cfg.output_dir = str(blocker / "out")
    with pytest.raises(PrepError, match=r"a_file/out: output folder is not writable"):
        run(cfg)


def test_bad_file_raises_or_is_skipped_and_counted(tmp_path: Path, corpus: Path) -> None:
    truncated = tmp_path / "bad.xml.gz"
    data = gzip.decompress((SAMPLES / "pubmed" / "medline16n0902.xml.gz").read_bytes())
    truncated.write_bytes(gzip.compress(data)[:60000])
    good = {"kind": "jsonl", "path": str(SAMPLES / "pubmedqa_train_contexts.jsonl")}
    sources = [good, {"kind": "medline", "path": str(truncated)}]
    cfg = load_config(write_config(tmp_path, sources))
    with pytest.raises(PrepError, match=r"bad\.xml\.gz"):
        run(cfg)
    assert not (Path(cfg.output_dir) / "train").exists()
    cfg = load_config(write_config(tmp_path, sources, on_error="skip"))
    manifest = run(cfg)
    medline = manifest["sources"]["medline"]
    assert medline["skipped"].get("bad_record", 0) >= 1 and medline["kept"] > 0
