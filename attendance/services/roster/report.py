"""What an import found, row by row: the answer of every door (API, CLI, dashboard)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
ARCHIVED = "archived"
INVALID = "invalid"
STATUSES = (CREATED, UPDATED, UNCHANGED, ARCHIVED, INVALID)


@dataclass(slots=True)
class RowResult:
    """One row's outcome; `line` is None for a pupil archived because the file left them out."""

    line: int | None
    external_id: str | None
    status: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The row as the API answers it."""
        return {
            "line": self.line,
            "external_id": self.external_id,
            "status": self.status,
            "changes": self.changes,
            "errors": self.errors,
        }


@dataclass
class Report:
    """Every row's outcome in file order (archived pupils last), with the counts by status."""

    dry_run: bool
    rows: list[RowResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    _digest: Any = field(default_factory=hashlib.sha256, repr=False)

    def add(self, row: RowResult) -> None:
        """Record a row's outcome."""
        self.rows.append(row)
        self.counts[row.status] += 1
        self._digest.update(json.dumps(row.to_wire(), sort_keys=True).encode())
        self._digest.update(b"\n")

    @property
    def digest(self) -> str:
        """A fingerprint of the plan: equal digests, equal outcomes for every row."""
        return str(self._digest.hexdigest())

    def to_wire(self) -> dict[str, Any]:
        """The API's document: `dry_run`, the counts, and `rows`."""
        return {
            "dry_run": self.dry_run,
            **self.counts,
            "rows": [row.to_wire() for row in self.rows],
        }
