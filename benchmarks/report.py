"""How every benchmark hands its figures over: printed for people, JSON for comparison later."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def report(text: str, summary: dict[str, Any], out: str | Path) -> None:
    """Print ``text`` and write ``summary`` as JSON to ``out``."""
    print(text)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(summary, indent=2) + "\n")
