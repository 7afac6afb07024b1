"""What an import found, row by row: the answer of every door (API, CLI, dashboard).

A report does not keep its rows in memory: each row's outcome is written, as a line of
JSON, to a temporary file (in memory while small, on disk past `SPOOL_BYTES`), and read
back when a door shows it. What stays resident is the counts, the digest and a batch of
rows waiting to be written, so a 100,000-row file costs no more memory than a
1,000-row one. A report holds a file: close it (or use it as a context manager). Its
texts come from a file decoded as strict UTF-8, so orjson can write them all (it refuses
lone surrogates).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

import orjson

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
ARCHIVED = "archived"
INVALID = "invalid"
STATUSES = (CREATED, UPDATED, UNCHANGED, ARCHIVED, INVALID)

SPOOL_BYTES = 1 << 20  # rows kept in memory up to this size, then on disk
BATCH_ROWS = 500  # rows encoded before they are written out (and at most held)
READ_BYTES = 64 * 1024


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


class Report:
    """Every row's outcome in file order (archived pupils last), with the counts by status."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        self._digest = hashlib.sha256()
        self._pending: list[bytes] = []
        # Closed by close(); on disk it has no name (removed as soon as it is made).
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)

    def add(self, row: RowResult) -> None:
        """Record a row's outcome."""
        self.counts[row.status] += 1
        self._pending.append(orjson.dumps(row.to_wire()))
        if len(self._pending) >= BATCH_ROWS:
            self._write()

    def _write(self) -> None:
        if not self._pending:
            return
        self._pending.append(b"")  # each line ends with "\n"
        text = b"\n".join(self._pending)
        self._pending.clear()
        self._digest.update(text)
        self._file.seek(0, 2)  # a reading may have moved the position
        self._file.write(text)

    @property
    def digest(self) -> str:
        """A fingerprint of the plan: equal digests, equal outcomes for every row."""
        self._write()
        return self._digest.hexdigest()

    def wire_rows(self, status: str | None = None) -> Iterator[bytes]:
        """Each row as its JSON text (of `status` only, when given), in order."""
        self._write()
        position = 0
        while True:
            self._file.seek(position)
            block = self._file.read(READ_BYTES)
            if not block:
                return
            while (end := block.rfind(b"\n") + 1) == 0:  # a line longer than a block
                more = self._file.read(READ_BYTES)
                if not more:  # every line ends with "\n": never, unless the file was cut
                    return
                block += more
            position += end
            for line in block[:end].splitlines():
                if status is None or orjson.loads(line)["status"] == status:
                    yield line

    def rows(self) -> Iterator[RowResult]:
        """Each row's outcome, read back in order."""
        for line in self.wire_rows():
            yield RowResult(**orjson.loads(line))

    def document(
        self, envelope: str, fields: dict[str, Any], status: str | None = None
    ) -> Iterator[bytes]:
        """`{envelope: {**fields, "rows": [...]}}` as JSON text, a few hundred rows a piece."""
        head = orjson.dumps({envelope: {**fields, "rows": []}})
        yield head[: -len(b"]}}")]
        batch: list[bytes] = []
        separator = b""
        for line in self.wire_rows(status):
            batch.append(line)
            if len(batch) == BATCH_ROWS:
                yield separator + b",".join(batch)
                batch.clear()
                separator = b","
        if batch:
            yield separator + b",".join(batch)
        yield b"]}}"

    def answer(self) -> Iterator[bytes]:
        """The API's document, `{"data": {dry_run, the counts, rows}}`, piece by piece."""
        return self.document("data", {"dry_run": self.dry_run, **self.counts})

    def close(self) -> None:
        """Let go of the rows' file."""
        self._pending.clear()
        self._file.close()

    def __enter__(self) -> Report:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
