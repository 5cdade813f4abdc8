"""biomedlm package."""
