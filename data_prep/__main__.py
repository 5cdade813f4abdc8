"""Prepare PubMed text for BioMedLM pretraining, or download NLM source files.

Usage::

    python -m data_prep CONFIG.yaml [key=value ...]      # run the pipeline (make prep-data)
    python -m data_prep recipes/data/sample.yaml force=true workers=2
    python -m data_prep download pubmed-baseline data/pubmed --limit 2

Errors in the input or the config end the run with one line on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import sys

from data_prep.document import PrepError


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "download":
        from data_prep.download import main as download_main

        return download_main(args[1:])
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from data_prep.config import load_config

    try:
        cfg = load_config(args[0], args[1:])  # a config error is reported before heavy imports
        from data_prep.pipeline import run

        manifest = run(cfg)
    except PrepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = ", ".join(
        f"{name}: {s['documents']} docs, {s.get('tokens', 0)} tokens, {s.get('samples', 0)} samples"
        for name, s in manifest["splits"].items()
    )
    print(f"wrote {cfg.output_dir} ({summary}; vocab {manifest['tokenizer']['vocab_size']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
