"""50,000 pupils in one roster: all created, then all unchanged (no timing: counts only).

`make bench-roster` times the same on PostgreSQL; figures in docs/performance.md.
"""

from __future__ import annotations

import gc
import io
import tracemalloc

import pytest
from sqlalchemy import func, select

from attendance.models import Enrolment, User

ROWS = 50_000


def roster(rows: int) -> bytes:
    out = io.StringIO()
    out.write("\ufeffexternal_id;name;group;enrolled_from;enrolled_until\n")
    for n in range(rows):
        start = "2026-09-01" if n % 3 else ""
        out.write(f'S{n:06d};"Pupil {n}; ""{n % 97}""";{n % 24}A;{start};\n')
    return out.getvalue().encode()


# Seconds on an idle machine; minutes on a shared, overloaded one: not a timing test.
@pytest.mark.timeout(1800)
def test_fifty_thousand_rows_then_the_same_again(client, db, make_school):
    school = make_school()
    body = roster(ROWS)
    url = f"/api/schools/{school.id}/roster"
    first = client.post(url, data=body, content_type="text/csv")
    assert first.status_code == 200
    data = first.json["data"]
    assert (data["created"], data["invalid"], len(data["rows"])) == (ROWS, 0, ROWS)
    assert data["rows"][-1]["line"] == ROWS + 1
    count = select(func.count()).select_from(User).where(User.school_id == school.id)
    assert db.session.scalar(count) == ROWS
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == ROWS
    again = client.post(url, data=body, content_type="text/csv").json["data"]
    assert (again["unchanged"], again["created"], again["updated"]) == (ROWS, 0, 0)
    assert db.session.scalar(select(func.count()).select_from(Enrolment)) == ROWS


def import_peak(client, school_id: int, body: bytes) -> int:
    """The most memory traced while the API plans `body` (a dry run) and its answer is read."""
    stream = io.BytesIO(body)  # the test client's copy of a body would be counted
    gc.collect()
    tracemalloc.start()
    try:
        resp = client.post(
            f"/api/schools/{school_id}/roster?dry_run=true",
            input_stream=stream,
            content_length=len(body),
            content_type="text/csv",
        )
        assert resp.status_code == 200
        assert sum(len(piece) for piece in resp.response) > len(body)  # read as streamed
        resp.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_per_row_stays_small(client, db, make_school):
    # What grows with the file is what duplicate detection and archiving need (the
    # external_ids seen, a claim per pupil: under 200 bytes a row); the rows' outcomes,
    # about 700 bytes a row held in memory, go to the report's file.
    school = make_school()
    import_peak(client, school.id, roster(2000))  # caches warmed, as in a running server
    small, large = (
        import_peak(client, school.id, roster(6000)),
        import_peak(client, school.id, roster(12000)),
    )
    per_row = (large - small) / 6000
    assert per_row < 350, (small, large, per_row)
