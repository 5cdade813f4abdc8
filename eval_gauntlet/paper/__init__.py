"""The BioMedLM paper's table in one command: ``python -m eval_gauntlet paper`` (docs/paper.md)."""
