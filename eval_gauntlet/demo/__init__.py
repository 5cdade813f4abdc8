"""The demo a newcomer runs (``make demo``): every stage on the embedded sample, then one screen."""
