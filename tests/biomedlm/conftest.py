"""The training tests launch the debug recipe on the session's prepared sample (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def prepared_first(prepared: Path) -> Path:
    """The sample prepared before any training test: the debug recipe's overrides point at it."""
    return prepared
