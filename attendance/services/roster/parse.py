"""Reading a roster file: UTF-8 CSV with a header row, streamed line by line.

Accepted: a byte order mark, `;` or `,` as the separator (the header line decides),
quoted fields (with separators, quotes and line breaks inside), empty optional cells.
Each row carries the number of the line it starts on, the header being line 1.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

EXTERNAL_ID = "external_id"
COLUMNS = ("external_id", "name", "group", "enrolled_from", "enrolled_until")
# A district-wide file may say which school each row is for (its id or exact name).
SCHOOL = "school"
KNOWN = frozenset({*COLUMNS, SCHOOL})
CHUNK_BYTES = 64 * 1024
BOM = "\ufeff"


class RosterFileError(ValueError):
    """The file as a whole cannot be read as a roster (its message says why and where)."""


@dataclass(frozen=True)
class Row:
    """One data row: the line it starts on and its cells by column ("" for an empty cell)."""

    line: int
    cells: dict[str, str]
    problem: str | None = None  # the row as a whole is unreadable (too many cells)


def _lines(stream: IO[bytes], on_bytes: Callable[[int], None] | None) -> Iterator[str]:
    """The stream's text, one line at a time (each ending with its "\\n"), decoded as UTF-8.

    Only "\\n" ends a line here: a quoted cell may hold any other line break, and the csv
    reader joins the lines of a quoted cell itself.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    pending, line_no, first = "", 0, True
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if on_bytes is not None and chunk:
            on_bytes(len(chunk))
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            bad_line = line_no + pending.count("\n") + chunk[: error.start].count(b"\n") + 1
            raise RosterFileError(f"is not UTF-8 text (line {bad_line})") from None
        if first and text:
            text, first = text.removeprefix(BOM), False
        pending += text
        start = 0
        while (end := pending.find("\n", start)) >= 0:
            yield pending[start : end + 1]
            line_no += 1
            start = end + 1
        pending = pending[start:]
        if not chunk:
            break
    if pending:
        yield pending


def _separator(header: str) -> str:
    """`;` when the header line has more of them than commas, else `,`."""
    return ";" if header.count(";") > header.count(",") else ","


def _header(cells: list[str]) -> list[str]:
    """The column names, checked: known, each once, `external_id` among them."""
    names = [cell.strip().lower() for cell in cells]
    unknown = [name for name in names if name not in KNOWN]
    if unknown:
        known = ", ".join((*COLUMNS, SCHOOL))
        raise RosterFileError(f"unknown column {unknown[0]!r} in the header (known: {known})")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RosterFileError(f"column {repeated[0]!r} appears twice in the header")
    if EXTERNAL_ID not in names:
        raise RosterFileError("the header has no external_id column")
    return names


def read_rows(
    stream: IO[bytes], on_bytes: Callable[[int], None] | None = None
) -> tuple[list[str], Iterator[Row]]:
    """The header's columns and the data rows of a roster, read as they are consumed."""
    lines = _lines(stream, on_bytes)
    header_line = next(lines, "")
    if not header_line.strip():
        raise RosterFileError("is empty: a roster starts with a header row")
    delimiter = _separator(header_line)
    reader = csv.reader(_chain(header_line, lines), delimiter=delimiter, strict=True)
    try:
        columns = _header(next(reader))
    except csv.Error as error:
        raise RosterFileError(f"line 1: {error}") from None
    return columns, _rows(reader, columns)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _rows(reader: Any, columns: list[str]) -> Iterator[Row]:
    previous = 1  # the last line read so far (the header's)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # an unclosed quote, a cell over the size limit
            raise RosterFileError(f"line {previous + 1}: {error}") from None
        start, previous = previous + 1, reader.line_num
        if not cells or cells == [""]:
            continue  # a blank line
        extra = [cell for cell in cells[len(columns) :] if cell.strip()]
        if extra:
            problem = f"has {len(cells)} cells but the header has {len(columns)} columns"
            yield Row(start, {}, problem)
            continue
        cells = (cells + [""] * len(columns))[: len(columns)]
        yield Row(start, dict(zip(columns, cells, strict=True)))
