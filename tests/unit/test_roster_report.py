"""The roster report: rows written to a file as they come and read back, never all held."""

from __future__ import annotations

import gc
import json
import tracemalloc

from attendance.services.roster.report import (
    ARCHIVED,
    CREATED,
    INVALID,
    UNCHANGED,
    Report,
    RowResult,
)


def created(n: int) -> RowResult:
    return RowResult(
        n + 2, f"S{n:07d}", CREATED, {"name": [None, f"Pupil {n}"], "group": [None, "5B"]}
    )


def test_rows_come_back_in_order_with_the_counts_and_the_document():
    rows = [
        created(0),
        RowResult(3, "Zoë ☂", UNCHANGED),
        RowResult(
            4, "x" * 100_000, INVALID, errors={"external_id": ["Longer than maximum length 64."]}
        ),
        RowResult(None, "P9", ARCHIVED),
    ]
    with Report(dry_run=True) as report:
        for row in rows:
            report.add(row)
        assert list(report.rows()) == rows
        assert [r for r in report.rows() if r.status == INVALID] == [rows[2]]
        report.add(created(5))  # after a reading, rows still go at the end
        assert list(report.rows()) == [*rows, created(5)]
        assert report.counts == {
            "created": 2,
            "updated": 0,
            "unchanged": 1,
            "archived": 1,
            "invalid": 1,
        }
        document = json.loads(b"".join(report.answer()))
        assert document == {
            "data": {
                "dry_run": True,
                **report.counts,
                "rows": [row.to_wire() for row in [*rows, created(5)]],
            }
        }
        assert list(document["data"]) == ["dry_run", *report.counts, "rows"]
        refused = json.loads(b"".join(report.document("errors", {"detail": "no"}, INVALID)))
        assert refused == {"errors": {"detail": "no", "rows": [rows[2].to_wire()]}}


def test_an_empty_report():
    with Report(dry_run=False) as report:
        assert json.loads(b"".join(report.answer())) == {
            "data": {"dry_run": False, **report.counts, "rows": []}
        }


def test_the_digest_is_the_outcome_of_every_row():
    def digest(rows: list[RowResult]) -> str:
        with Report(dry_run=True) as report:
            for row in rows:
                report.add(row)
            return report.digest

    many = [created(n) for n in range(1200)]  # more than a batch
    assert digest(many) == digest(list(many))
    changed = [*many[:-1], RowResult(1201, "S0001199", UNCHANGED)]
    assert digest(many) != digest(changed)
    assert digest([]) != digest(many[:1])


def peak_bytes(rows: int) -> int:
    """The most memory traced while adding `rows` rows and reading them all back."""
    gc.collect()
    tracemalloc.start()
    try:
        with Report(dry_run=False) as report:
            for n in range(rows):
                report.add(created(n))
            assert sum(1 for _ in report.rows()) == rows
            assert sum(len(piece) for piece in report.answer()) > rows * 60
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_rows():
    # Kept in a list, 20,000 more rows would take about 10 MiB; written out, a few KiB.
    small, large = peak_bytes(20_000), peak_bytes(40_000)
    assert large - small < 500_000, (small, large)
    assert large < 6 * 2**20, large  # the file's first MiB in memory (copied as it rolls over)
