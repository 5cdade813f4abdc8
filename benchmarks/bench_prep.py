"""Data-prep throughput: our pipeline vs llm-foundry's converter vs the bare tokenizer, in one run.

Usage::

    python benchmarks/bench_prep.py [--mb 50] [--out bench_out/prep.json]     # or: make bench

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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.report import report  # noqa: E402

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
        REPO / "data_prep" / "configs" / "sample.yaml",
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
        REPO / "data_prep" / "configs" / "sample.yaml", [f"output_dir={corpus.parent / 'sample'}"]
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


def run_step(name: str, corpus: Path, tok_dir: Path, work: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--out", default="bench_out/prep.json")
    parser.add_argument("--step", choices=sorted(STEPS))
    parser.add_argument("--corpus")
    parser.add_argument("--tok")
    parser.add_argument("--work")
    args = parser.parse_args()
    if args.step:  # child process: one step, its result as the last stdout line
        result = STEPS[args.step](Path(args.corpus), Path(args.tok), Path(args.work))
        result["peak_mb"] = round(_peak_mb(), 1)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="bench_prep_") as tmp:
        root = Path(tmp)
        chars = make_corpus(root / "corpus", root / "tok", args.mb)
        print(f"corpus: {chars / 1e6:.1f} MB of text", flush=True)
        results = {}
        for name in ("ceiling", "pack", "pipeline", "foundry"):
            results[name] = run_step(name, root / "corpus", root / "tok", root)
            print(
                f"  {name:9s} {results[name]['seconds']:7.2f} s  peak {results[name]['peak_mb']:7.1f} MB",
                flush=True,
            )
    tokens = results["pack"]["tokens"]
    results["foundry"]["tokens"] = tokens  # the same texts, the same tokenizer, EOS after each
    for r in results.values():
        r["tokens_per_s"] = round(r["tokens"] / r["seconds"])
    summary = {
        "text_mb": round(chars / 1e6, 1),
        "tokens": tokens,
        "steps": results,
        "pack_vs_foundry": round(
            results["pack"]["tokens_per_s"] / results["foundry"]["tokens_per_s"], 2
        ),
        "pipeline_vs_foundry": round(
            results["pipeline"]["tokens_per_s"] / results["foundry"]["tokens_per_s"], 2
        ),
        "pack_vs_ceiling": round(
            results["pack"]["tokens_per_s"] / results["ceiling"]["tokens_per_s"], 2
        ),
        "pipeline_vs_ceiling": round(
            results["pipeline"]["tokens_per_s"] / results["ceiling"]["tokens_per_s"], 2
        ),
        "peak_mb": max(r["peak_mb"] for r in results.values() if r is not results["foundry"]),
    }
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
