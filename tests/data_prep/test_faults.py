"""Faults (issue 11): outputs published as one set, one run per folder, umask, early checks.

Each test states the failure it guards against; all of them failed on the code before the fix.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_prep.__main__ import main
from data_prep.config import load_config
from data_prep.document import PrepError
from data_prep.pipeline import run

pytestmark = pytest.mark.xdist_group("streaming")  # tests/conftest.py says why

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data_prep" / "samples"
EVAL = REPO / "medtasks" / "data"
PUBLISHED = ("tokenizer", "train", "validation", "manifest.json")

# A run paused in packing, after its tokenizer and its first shards are written (to be killed).
PAUSED_IN_PACK = """
import sys, time
import data_prep.pipeline as pipeline
from data_prep.config import load_config

real = pipeline.pack_split

def paused(*args, **kwargs):
    real(*args, **kwargs)
    print("packing", flush=True)
    time.sleep(600)

pipeline.pack_split = paused
pipeline.run(load_config(sys.argv[1], sys.argv[2:]))
"""


def write_config(tmp_path: Path, name: str = "prep.yaml", **extra: object) -> Path:
    cfg = {
        "sources": [
            {"kind": "medline", "path": str(SAMPLES / "pubmed" / "*.xml.gz")},
            {
                "kind": "jsonl",
                "name": "ctx",
                "path": str(SAMPLES / "pubmedqa_train_contexts.jsonl"),
            },
        ],
        "output_dir": str(tmp_path / "out"),
        "workers": 2,
        "split": {"validation_fraction": 0.1},
        "tokenizer": {"vocab_size": 2000},
        "pack": {"seq_len": 128, "size_limit": "1mb"},
        "decontaminate": {"catalogue": str(REPO / "medtasks" / "tasks.yaml")},
        **extra,
    }
    path = tmp_path / name
    path.write_text(json.dumps(cfg))
    return path


def snapshot(out: Path) -> dict[str, bytes]:
    """The published set's bytes, by relative path (the tokenizer, every shard, the manifest)."""
    files = {}
    for name in PUBLISHED:
        path = out / name
        for f in [path] if path.is_file() else sorted(path.rglob("*")):
            if f.is_file():
                files[str(f.relative_to(out))] = f.read_bytes()
    return files


def assert_complete(out: Path) -> None:
    """The folder's tokenizer, shards and manifest belong together and read back."""
    from streaming import StreamingDataset

    manifest = json.loads((out / "manifest.json").read_text())
    vocab = json.loads((out / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    assert manifest["tokenizer"]["vocab_size"] == len(vocab)
    for split in ("train", "validation"):
        dataset = StreamingDataset(local=str(out / split), batch_size=1, shuffle=False)
        assert len(dataset) == manifest["splits"][split]["samples"]
        tokens = dataset[len(dataset) - 1]["tokens"]
        assert len(tokens) == manifest["config"]["pack"]["seq_len"] and tokens.max() < len(vocab)


def temporaries(out: Path) -> list[str]:
    """Every leftover temporary or unpublished set in the folder."""
    names = [p.name for p in out.rglob("*") if ".tmp-" in p.name]
    sets = out / ".sets"
    current = (out / ".current").resolve()
    names += [p.name for p in sets.iterdir() if p.resolve() != current] if sets.is_dir() else []
    return names


def start_paused(cfg: Path, *overrides: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED_IN_PACK, str(cfg), *overrides],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.stdout.readline().strip() == "packing":
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("the paused run did not reach packing")


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


# --- one set: tokenizer, shards and manifest change together ------------------------------


def test_killed_vocabulary_change_rerun_keeps_the_old_set(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    run(load_config(cfg))
    before = snapshot(out)
    proc = start_paused(cfg, "tokenizer.vocab_size=1000")  # new tokenizer trained, packing
    try:
        assert snapshot(out) == before  # while it runs, readers see the old set only
    finally:
        kill(proc)
    assert snapshot(out) == before  # killed: never the new tokenizer beside the old shards
    assert_complete(out)
    manifest = run(load_config(cfg, ["tokenizer.vocab_size=1000"]))
    assert manifest["tokenizer"]["vocab_size"] <= 1000 and manifest["timings"]["pack"] != "cached"
    assert_complete(out)
    assert temporaries(out) == []


def test_failed_pack_after_a_vocabulary_change_keeps_the_old_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import data_prep.pipeline as pipeline

    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    run(load_config(cfg))
    before = snapshot(out)
    real = pipeline.pack_split

    def fails_in_validation(*args: object, **kwargs: object) -> object:
        if kwargs.get("desc") == "pack validation":  # train already written
            raise PrepError("pack.something: a bad value")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "pack_split", fails_in_validation)
    with pytest.raises(PrepError, match="a bad value"):
        run(load_config(cfg, ["tokenizer.vocab_size=1000"]))
    assert snapshot(out) == before
    assert_complete(out)
    monkeypatch.undo()
    manifest = run(load_config(cfg, ["tokenizer.vocab_size=1000"]))
    assert manifest["timings"]["tokenizer"] == "cached"  # the unpublished set was resumed
    assert manifest["tokenizer"]["vocab_size"] <= 1000
    assert_complete(out)
    assert temporaries(out) == []


def test_a_folder_of_the_earlier_layout_is_adopted(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    run(load_config(cfg))
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)  # follows the links: real folders, as the earlier layout wrote
    for legacy in (copy / ".current", copy / ".sets"):
        shutil.rmtree(legacy)
    before = snapshot(copy)
    manifest = run(load_config(cfg, [f"output_dir={copy}", "pack.seq_len=64"]))
    assert manifest["samples"]["seq_len"] == 64 and (copy / "train").is_symlink()
    assert snapshot(copy)["tokenizer/tokenizer.json"] == before["tokenizer/tokenizer.json"]
    assert_complete(copy)
    assert temporaries(copy) == []


# --- one run at a time per folder ---------------------------------------------------------


def test_two_concurrent_runs_into_one_folder(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    first = start_paused(cfg)
    try:
        with pytest.raises(PrepError) as error:
            run(load_config(cfg, ["pack.seq_len=64"]))  # other settings, same folder
        assert str(error.value) == (
            f"{out}: another data_prep run (pid {first.pid}) is writing this output_dir; "
            "wait for it to finish, stop it, or choose another output_dir"
        )
        assert first.poll() is None  # the first run was not disturbed
    finally:
        kill(first)
    left = temporaries(out)
    assert left  # the killed run's temporaries (its unpublished set, shards in progress)...
    manifest = run(load_config(cfg, ["pack.seq_len=64"]))
    assert temporaries(out) == []  # ...are removed by the next run
    assert manifest["samples"]["seq_len"] == 64
    assert_complete(out)


# --- outputs honour the umask -------------------------------------------------------------


@pytest.mark.parametrize(("mask", "dirs", "files"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_outputs_honour_the_umask(tmp_path: Path, mask: int, dirs: int, files: int) -> None:
    previous = os.umask(mask)
    try:
        run(load_config(write_config(tmp_path)))
    finally:
        os.umask(previous)
    out = tmp_path / "out"
    for name in PUBLISHED:
        path = out / name
        assert stat.S_IMODE(path.stat().st_mode) == (dirs if path.is_dir() else files), name
        for inner in path.rglob("*") if path.is_dir() else []:
            assert stat.S_IMODE(inner.stat().st_mode) == (dirs if inner.is_dir() else files), inner
    assert stat.S_IMODE((out / ".current").stat().st_mode) == dirs


# --- every value checked before the first stage; disk full is one line --------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("pack.seq_len=0", "pack.seq_len: must be at least 1, got 0"),
        ("pack.seq_len=-5", "pack.seq_len: must be at least 1, got -5"),
        ("pack.size_limit=lots", "pack.size_limit: 'lots' is not a shard size"),
        ("pack.compression=rar", "pack.compression: unknown 'rar'; expected null or one of"),
        ("pack.hashes=[md4]", "pack.hashes: unknown 'md4'"),
        ("tokenizer.vocab_size=0", "tokenizer.vocab_size: must be at least 257"),
        # without a bound: extract and select ran, then the BPE trainer aborted (exit 134, silent)
        ("tokenizer.vocab_size=99999999999", "tokenizer.vocab_size: must be at most 1048576"),
        (
            "tokenizer.path=/no/such/tokenizer",
            "tokenizer.path: /no/such/tokenizer is not a directory",
        ),
        ("workers=-1", "workers: must be at least 0"),
        ("decontaminate.catalogue=null", "decontaminate: enabled, but no benchmark to check"),
    ],
)
def test_bad_values_fail_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, message: str
) -> None:
    assert main([str(write_config(tmp_path)), override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()  # nothing read, nothing written


def test_a_split_packed_to_no_sample_fails_and_keeps_the_old_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was rc 0: a set whose validation split had 0 samples replaced the good one."""
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    run(load_config(cfg))
    before = snapshot(out)
    assert main([str(cfg), "pack.seq_len=100000"]) == 2  # train: 4 samples, validation: none
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        "error: pack.seq_len: the validation split has 42670 tokens, not one 100000-token sample; "
        "set pack.seq_len to at most 42670"
    )
    assert snapshot(out) == before
    assert_complete(out)


def test_yaml_errors_name_their_line(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text("output_dir: a\nsources:\n  - kind: medline\n    path: x\noutput_dir: b\n")
    with pytest.raises(
        PrepError, match=r"dup\.yaml:5: invalid YAML \(found duplicate key output_dir\)"
    ):
        load_config(dup)
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("output_dir: a\nsources:\n  - kind: medline\n    path: [x\n")
    with pytest.raises(PrepError, match=r"syntax\.yaml:5: invalid YAML \(did not find expected"):
        load_config(syntax)
    nested = tmp_path / "nested.yaml"
    nested.write_text("output_dir: a\ntokenizer:\n  vocab_size: 10\n  vocab_size: 20\n")
    with pytest.raises(PrepError, match=r"nested\.yaml:4: invalid YAML \(found duplicate key"):
        load_config(nested)


def test_disk_full_is_one_line_and_keeps_the_old_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import streaming.base.format.base.writer as mds_writer

    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    run(load_config(cfg))
    before = snapshot(out)

    def full(path: str, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "w" in mode:  # every shard and index MDSWriter writes, as on a full disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return open(path, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(mds_writer, "open", full, raising=False)
    assert main([str(cfg), "pack.seq_len=64"]) == 2
    err = capsys.readouterr().err  # progress bars aside, one line
    assert "Traceback" not in err and "During handling" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left on device" in errors[0], err
    assert errors[0] == err.strip().splitlines()[-1] and "shard." in errors[0]
    assert snapshot(out) == before


# --- decontamination follows the benchmark files' contents --------------------------------


def test_an_evaluation_file_edited_in_place_redoes_decontamination(tmp_path: Path) -> None:
    contexts = [json.loads(line) for line in (SAMPLES / "pubmedqa_train_contexts.jsonl").open()]
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question": "An unrelated question about nothing at all."}) + "\n")
    cfg = write_config(
        tmp_path,
        sources=[{"kind": "jsonl", "path": str(SAMPLES / "pubmedqa_train_contexts.jsonl")}],
        decontaminate={"catalogue": None, "benchmarks": {"bench": {"path": str(bench)}}},
    )
    first = run(load_config(cfg))
    assert first["decontamination"]["removed"]["bench"]["total"] == 0
    with bench.open("a") as f:  # a benchmark item copied from a training document
        f.write(json.dumps({"question": contexts[7]["text"][:400]}) + "\n")
    second = run(load_config(cfg))
    assert second["timings"]["extract"] != "cached"
    assert second["decontamination"]["removed"]["bench"] == {"pmid": 0, "ngram": 1, "total": 1}
    kept = sum(s["documents"] for s in second["splits"].values())
    assert kept == sum(s["documents"] for s in first["splits"].values()) - 1


# --- the MEDLINE reader says which file is not MEDLINE ------------------------------------


def test_wrong_xml_in_a_medline_glob(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "medline"
    folder.mkdir()
    shutil.copy(SAMPLES / "pubmed" / "medline16n0902.xml.gz", folder / "a.xml.gz")
    shutil.copy(SAMPLES / "pmc" / "pone.0000217.nxml", folder / "b.xml")  # a PMC article
    (folder / "c.xml").write_text("<html><body>Service Unavailable</body></html>")
    sources = [{"kind": "medline", "path": str(folder / "*.xml*")}]
    with pytest.raises(
        PrepError, match=r"b\.xml: not a MEDLINE/PubMed file: root element <article>"
    ):
        run(load_config(write_config(tmp_path, sources=sources, workers=1)))
    cfg = write_config(tmp_path, sources=sources, on_error="skip", workers=1)  # logs in-process
    manifest = run(load_config(cfg))
    medline = manifest["sources"]["medline"]
    assert medline["files"] == 3 and medline["skipped"]["bad_record"] == 2 and medline["kept"] > 400
    for name in ("b.xml", "c.xml"):
        assert any(name in r.message and "gave no documents" in r.message for r in caplog.records)


# --- a failed run leaves no temporary behind ----------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_input_file_leaves_no_temporary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: int
) -> None:
    """Was: the failed file's ``.work/extract/.<key>.jsonl.tmp-<pid>`` stayed until the next run."""
    good = tmp_path / "a.jsonl"
    good.write_text(json.dumps({"id": "a", "text": "A sentence about aspirin. " * 20}) + "\n")
    bad = tmp_path / "b.jsonl"
    bad.write_text(good.read_text() + "{not json\n")
    sources = [{"kind": "jsonl", "path": str(tmp_path / "*.jsonl")}]
    cfg = write_config(tmp_path, sources=sources, workers=workers, decontaminate={"enabled": False})
    assert main([str(cfg)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "b.jsonl:2" in errors[0], errors
    assert temporaries(tmp_path / "out") == []


def test_a_resumed_set_publishes_only_the_splits_of_this_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was a stale validation/ published beside a manifest saying validation has 0 documents."""
    import data_prep.pipeline as pipeline
    from data_prep.config import TokenizerConfig
    from data_prep.tokenizer import train_tokenizer

    contexts = SAMPLES / "pubmedqa_train_contexts.jsonl"
    texts = [json.loads(line)["text"] for line in contexts.open()][:100]
    train_tokenizer(texts, TokenizerConfig(vocab_size=500), tmp_path / "tok")
    cfg = write_config(
        tmp_path,
        sources=[{"kind": "jsonl", "path": str(contexts)}],
        tokenizer={"path": str(tmp_path / "tok")},  # the same tokenizer: the set is resumed
        decontaminate={"enabled": False},
    )

    def full(*args: object, **kwargs: object) -> object:  # fails after packing
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pipeline, "build_manifest", full)
    with pytest.raises(PrepError, match="no space left on device"):
        run(load_config(cfg))
    monkeypatch.undo()
    manifest = run(load_config(cfg, ["split.validation_fraction=0.0"]))
    assert manifest["timings"]["tokenizer"] == "cached"  # the unpublished set was resumed
    out = tmp_path / "out"
    assert manifest["splits"]["validation"]["documents"] == 0
    assert not (out / "validation").exists() and not (out / ".current" / "validation").exists()
