"""What every reader yields, and how a reader reports what it could not read."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]


class PrepError(ValueError):
    """Bad input or configuration; the message is one line naming the file, line or key."""


@dataclass(slots=True)
class Document:
    """One text of the corpus; ``id`` is global where the source has one (``pmid:123``,
    ``pmc:PMC123``), so an article met in two sources deduplicates."""

    id: str
    source: str
    text: str
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class ReadContext:
    """Counters a reader fills while it reads one file, and its policy for bad records."""

    source: str
    on_error: OnError = "raise"
    skipped: Counter[str] = field(default_factory=Counter)  # documents left out, by reason
    dropped: Counter[str] = field(default_factory=Counter)  # parts of kept ones (table...)
    deleted: list[str] = field(default_factory=list)  # ids an update file deletes
    left_out: list[str] = field(default_factory=list)  # ids read and not kept, for any reason

    def bad(self, where: str, why: str) -> None:
        """Raise a one-line :class:`PrepError`, or count and log the bad record under ``skip``."""
        message = f"{where}: {why}"
        if self.on_error == "raise":
            raise PrepError(message)
        log.warning("skipped %s", message)
        self.skipped["bad_record"] += 1
