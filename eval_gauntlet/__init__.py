"""eval_gauntlet package."""
