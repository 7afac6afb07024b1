"""50,000 pupils in one roster: all created, then all unchanged (no timing: counts only).

`make bench-roster` times the same on PostgreSQL; figures in docs/performance.md.
"""

from __future__ import annotations

import io

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
