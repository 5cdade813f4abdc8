"""Data-prep throughput: our pipeline vs llm-foundry's converter vs the bare tokenizer, in one run.

Usage::

    python -m benchmarks.bench_prep [--mb 50] [--out bench_out/prep.json]     # or: make bench

The corpus is the shipped sample's real PubMed text (MEDLINE abstracts, PMC full text,
PubMedQA train contexts, as the pipeline extracts them), replicated to ``--mb`` megabytes in
JSONL files; each copy's documents get a copy-numbered id and first line, so exact
deduplication keeps them (a replicated corpus would otherwise dedup to the sample). One
tokenizer, trained once on the sample, serves every step. Each step runs in its own process,
so its peak memory is its own:

    ceiling     tokenizers' encode_batch over the texts already in memory (no I/O)
    pack        our tokenize + pack + MDS write of the same texts (data_prep.packing)
    pipeline    the whole data_prep pipeline on the JSONL corpus (parse, clean, decontaminate,
                dedup, split, pack), with the tokenizer reused
    foundry     llm-foundry's convert_dataset_json on the same texts (concat 1024, EOS)

Printed: tokens/s per step, ours / llm-foundry, ours / ceiling, and peak RSS.
Targets (issue 2): >= 1.5x llm-foundry, >= 70% of the ceiling, peak < 2 GB.

``--corpora`` instead measures per-unit costs on the shipped real files, for sizing the real
corpora (README): extract (parse, clean, decontaminate against the catalogue) of the MEDLINE
file and of the PMC articles, one process; tokenize + pack at seq_len 1024 with a 28,896-token
BPE trained on the sample; and the bytes each step leaves on disk. Median and spread of
``--repeats`` runs, each step alternating with the others.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.report import report

REPO = Path(__file__).resolve().parents[1]


SEQ_LEN = 1024


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: reset at exec, unlike ru_maxrss), or its workers' if larger."""
    status = Path("/proc/self/status").read_text()
    self_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, children_kb) / 1024


def _texts(corpus: Path) -> list[str]:
    return [json.loads(line)["text"] for f in sorted(corpus.glob("*.jsonl")) for line in f.open()]


def step_ceiling(corpus: Path, tok_dir: Path, work: Path) -> dict:
    from tokenizers import Tokenizer

    texts = _texts(corpus)
    tokenizer = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    start = time.perf_counter()
    tokens = 0
    for i in range(0, len(texts), 1024):
        tokens += sum(
            len(e.ids) + 1
            for e in tokenizer.encode_batch(texts[i : i + 1024], add_special_tokens=False)
        )
    return {"tokens": tokens, "seconds": time.perf_counter() - start}


def step_pack(corpus: Path, tok_dir: Path, work: Path) -> dict:
    from data_prep.config import PackConfig
    from data_prep.packing import pack_split

    def texts():
        for f in sorted(corpus.glob("*.jsonl")):
            for line in f.open():
                yield json.loads(line)["text"]

    start = time.perf_counter()
    stats = pack_split(texts(), tok_dir, work / "pack", PackConfig(seq_len=SEQ_LEN), desc="pack")
    return {"tokens": stats.tokens, "seconds": time.perf_counter() - start}


def step_pipeline(corpus: Path, tok_dir: Path, work: Path) -> dict:
    from data_prep.config import load_config
    from data_prep.pipeline import run

    cfg = load_config(
        REPO / "recipes" / "data" / "sample.yaml",
        [
            "sources=[{kind: jsonl, name: bench, path: '" + str(corpus / "*.jsonl") + "'}]",
            f"output_dir={work / 'pipeline'}",
            f"tokenizer.path={tok_dir}",
            f"pack.seq_len={SEQ_LEN}",
            "pack.size_limit=64mb",
            "split.validation_fraction=0.005",
        ],
    )
    start = time.perf_counter()
    manifest = run(cfg)
    tokens = sum(s.get("tokens", 0) for s in manifest["splits"].values())
    return {
        "tokens": tokens,
        "seconds": time.perf_counter() - start,
        "timings": manifest["timings"],
    }


def step_foundry(corpus: Path, tok_dir: Path, work: Path) -> dict:
    from llmfoundry.command_utils import convert_dataset_json_from_args

    start = time.perf_counter()
    convert_dataset_json_from_args(
        path=str(corpus / "all.json"),
        out_root=str(work / "foundry"),
        compression="zstd",
        concat_tokens=SEQ_LEN,
        split="train",
        tokenizer=str(tok_dir),
        eos_text="<|endoftext|>",
        no_wrap=False,
    )
    return {"tokens": None, "seconds": time.perf_counter() - start}


STEPS = {
    "ceiling": step_ceiling,
    "pack": step_pack,
    "pipeline": step_pipeline,
    "foundry": step_foundry,
}


def make_corpus(corpus: Path, tok_dir: Path, mb: float) -> int:
    """Extract the sample once with the pipeline, train the tokenizer, replicate the text."""
    from data_prep.config import load_config
    from data_prep.pipeline import run

    cfg = load_config(
        REPO / "recipes" / "data" / "sample.yaml", [f"output_dir={corpus.parent / 'sample'}"]
    )
    run(cfg)
    shutil.copytree(corpus.parent / "sample" / "tokenizer", tok_dir)
    text_dir = corpus.parent / "sample" / ".work" / "text"
    base = [
        json.loads(line)
        for s in ("train", "validation")
        for line in (text_dir / f"{s}.jsonl").open()
    ]
    base_chars = sum(len(r["text"]) for r in base)
    copies = max(1, int(mb * 1e6 / base_chars + 0.999))
    corpus.mkdir(parents=True)
    with ExitStack() as files:
        shards = [files.enter_context(open(corpus / f"part{i:02d}.jsonl", "w")) for i in range(8)]
        everything = files.enter_context(open(corpus / "all.json", "w"))
        for k in range(copies):
            for j, r in enumerate(base):
                line = (
                    json.dumps({"id": f"{r['id']}#copy{k}", "text": f"Copy {k}.\n{r['text']}"})
                    + "\n"
                )
                shards[(k * len(base) + j) % 8].write(line)
                everything.write(line)
    return copies * base_chars


def _extract_once(config: Path, source: dict, work: Path) -> dict:
    """Extract one source with the pipeline's own stage code, in this process; time and counts."""
    from data_prep.catalogue import benchmarks_to_check
    from data_prep.config import load_config
    from data_prep.decontaminate import EvalIndex
    from data_prep.extract import plan_tasks, run_extract

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cfg = load_config(config, [f"sources=[{json.dumps(source)}]", f"output_dir={work}"])
    benchmarks = benchmarks_to_check(cfg.decontaminate)
    index = EvalIndex.from_config(cfg.decontaminate, benchmarks)  # once per worker, not timed
    tasks = plan_tasks(cfg, work, benchmarks)
    start, cpu = time.perf_counter(), time.process_time()
    stats = run_extract(tasks, index, workers=1)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": round(time.process_time() - cpu, 4),
        "input_bytes": sum(Path(t.path).stat().st_size for t in tasks),
        "read": sum(s["read"] + sum(s["skipped"].values()) for s in stats),
        "kept": sum(s["kept"] for s in stats),
        "text_bytes": sum(f.stat().st_size for f in work.glob("*.jsonl")),
        "texts": [
            json.loads(line)["text"] for f in sorted(work.glob("*.jsonl")) for line in f.open()
        ],
    }


def _pack_once(texts: list[str], root: Path, name: str) -> dict:
    """Pack ``texts`` repeated 20 times (start-up costs amortised, as in a real shard run);
    the bytes per token on disk come from one copy (a repeated text would compress better)."""
    from data_prep.config import PackConfig
    from data_prep.packing import pack_split

    sizes = {}
    for copies in (1, 20):
        shards = root / f"shards_{name}_{copies}"
        shutil.rmtree(shards, ignore_errors=True)
        start, cpu = time.perf_counter(), time.process_time()
        packed = pack_split(texts * copies, root / "tok", shards, PackConfig(seq_len=1024))
        sizes[copies] = (time.perf_counter() - start, time.process_time() - cpu, packed.tokens)
    seconds, cpu_seconds, tokens = sizes[20]
    one_copy_tokens, one_copy = sizes[1][2], root / f"shards_{name}_1"
    return {
        "seconds": seconds,
        "cpu_seconds": round(cpu_seconds, 4),
        "tokens": tokens,
        "tokens_per_doc": round(one_copy_tokens / len(texts), 1),
        "shard_bytes_per_token": round(
            sum(f.stat().st_size for f in one_copy.iterdir()) / one_copy_tokens, 3
        ),
    }


def measure_corpora(repeats: int, out: str) -> None:
    """Per-unit costs of the real sources (see the module docstring); printed and saved."""
    import statistics

    from data_prep.config import TokenizerConfig
    from data_prep.tokenizer import train_tokenizer

    config = REPO / "recipes" / "data" / "sample.yaml"
    samples = REPO / "data_prep" / "samples"
    sources = {
        "medline": {"kind": "medline", "path": str(samples / "pubmed" / "*.xml.gz")},
        "pmc": {"kind": "pmc", "path": str(samples / "pmc" / "*.nxml")},
    }
    runs: dict[str, list[dict]] = {name: [] for name in [*sources, "pack_medline", "pack_pmc"]}
    with tempfile.TemporaryDirectory(prefix="bench_corpora_") as tmp:
        root = Path(tmp)
        texts = {n: _extract_once(config, s, root / n)["texts"] for n, s in sources.items()}
        train_tokenizer(
            [t for ts in texts.values() for t in ts],
            TokenizerConfig(vocab_size=28896),
            root / "tok",
        )
        for _ in range(repeats):
            for name, source in sources.items():
                runs[name].append(_extract_once(config, source, root / name))
                runs[f"pack_{name}"].append(_pack_once(texts[name], root, name))
    summary: dict = {"repeats": repeats}
    lines = []
    for name, results in runs.items():
        entry = {
            k: v for k, v in results[0].items() if k not in ("texts", "seconds", "cpu_seconds")
        }
        for key in ("seconds", "cpu_seconds"):  # wall time, and CPU time of all threads
            values = [r[key] for r in results]
            entry[f"{key}_median"] = round(statistics.median(values), 4)
            entry[f"{key}_min"] = round(min(values), 4)
            entry[f"{key}_max"] = round(max(values), 4)
        summary[name] = entry
        lines.append(
            f"{name:13s} wall median {entry['seconds_median']:.3f} s "
            f"({entry['seconds_min']:.3f}-{entry['seconds_max']:.3f}), CPU median "
            f"{entry['cpu_seconds_median']:.3f} s ({entry['cpu_seconds_min']:.3f}-"
            f"{entry['cpu_seconds_max']:.3f})  "
            + ", ".join(f"{k} {v}" for k, v in entry.items() if "seconds" not in k)
        )
    report("\n".join(lines), summary, out)


def run_step(name: str, corpus: Path, tok_dir: Path, work: Path) -> dict:
    cmd = [  # a module run, so that the child imports the benchmarks package as this one does
        sys.executable,
        "-m",
        "benchmarks.bench_prep",
        "--step",
        name,
        "--corpus",
        str(corpus),
        "--tok",
        str(tok_dir),
        "--work",
        str(work),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_steps(mb: float) -> tuple[int, dict[str, dict[str, Any]]]:
    """Each step in its own process on one synthetic corpus of ``mb`` MB: its characters, results."""
    with tempfile.TemporaryDirectory(prefix="bench_prep_") as tmp:
        root = Path(tmp)
        chars = make_corpus(root / "corpus", root / "tok", mb)
        print(f"corpus: {chars / 1e6:.1f} MB of text", flush=True)
        results = {}
        for name in ("ceiling", "pack", "pipeline", "foundry"):
            results[name] = run_step(name, root / "corpus", root / "tok", root)
            print(
                f"  {name:9s} {results[name]['seconds']:7.2f} s  peak {results[name]['peak_mb']:7.1f} MB",
                flush=True,
            )
    return chars, results


def summarize(chars: int, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Tokens per second of each step and their ratios to llm-foundry's and to the ceiling."""
    tokens = results["pack"]["tokens"]
    results["foundry"]["tokens"] = tokens  # the same texts, the same tokenizer, EOS after each
    for r in results.values():
        r["tokens_per_s"] = round(r["tokens"] / r["seconds"])
    rate = {name: r["tokens_per_s"] for name, r in results.items()}
    return {
        "text_mb": round(chars / 1e6, 1),
        "tokens": tokens,
        "steps": results,
        "pack_vs_foundry": round(rate["pack"] / rate["foundry"], 2),
        "pipeline_vs_foundry": round(rate["pipeline"] / rate["foundry"], 2),
        "pack_vs_ceiling": round(rate["pack"] / rate["ceiling"], 2),
        "pipeline_vs_ceiling": round(rate["pipeline"] / rate["ceiling"], 2),
        "peak_mb": max(r["peak_mb"] for r in results.values() if r is not results["foundry"]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--out", default="bench_out/prep.json")
    parser.add_argument("--step", choices=sorted(STEPS))
    parser.add_argument("--corpus")
    parser.add_argument("--tok")
    parser.add_argument("--work")
    parser.add_argument("--corpora", action="store_true", help="per-unit costs of real sources")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.corpora:
        measure_corpora(args.repeats, args.out.replace("prep.json", "prep_corpora.json"))
        return
    if args.step:  # child process: one step, its result as the last stdout line
        result = STEPS[args.step](Path(args.corpus), Path(args.tok), Path(args.work))
        result["peak_mb"] = round(_peak_mb(), 1)
        print(json.dumps(result))
        return
    summary = summarize(*measure_steps(args.mb))
    results = summary["steps"]
    print(f"\n{'step':10s} {'tokens/s':>12s} {'peak MB':>9s}")
    for name, r in results.items():
        print(f"{name:10s} {r['tokens_per_s']:12,d} {r['peak_mb']:9.1f}")
    report(
        f"\npack / llm-foundry      {summary['pack_vs_foundry']:.2f}x   (target >= 1.5x)\n"
        f"pipeline / llm-foundry  {summary['pipeline_vs_foundry']:.2f}x\n"
        f"pack / ceiling          {summary['pack_vs_ceiling']:.0%}   (target >= 70%)\n"
        f"pipeline / ceiling      {summary['pipeline_vs_ceiling']:.0%}\n"
        f"peak memory (ours)      {summary['peak_mb']:.0f} MB (target < 2048 MB)",
        summary,
        args.out,
    )


if __name__ == "__main__":
    main()
