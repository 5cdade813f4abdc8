"""In-context evaluation of biomedical LMs (docs/evaluation.md): ``python -m eval_gauntlet -h``."""
