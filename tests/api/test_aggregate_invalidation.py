"""Each school-life change makes stale exactly the cached dates it touches (docs/reports.md
"Sharing, and the cache"): asked for again, those dates are computed and the others
come from the per-day cache, and every figure is the oracle's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from attendance.models import ReportChunk, School, User

from .test_aggregate_school_life import START, _ok, aggregate, figures, oracle
from .test_aggregate_school_life import school_life as school_life  # noqa: F401 (the fixture)

PAST = (START, dt.date(2026, 11, 26))  # today is the 27th: every date may be cached
BUSY = [  # the school days of PAST, with events on each
    (START + dt.timedelta(days=n)).isoformat() for n in range(11) if n % 7 < 5
]


def _user(db, name: str) -> int:
    return db.session.scalar(select(User.id).where(User.name == name))


def _change(client, db, school: int, change: str) -> None:
    """One admin's change, through the API."""
    ada, ben, dee, eve = (_user(db, n) for n in ("Ada", "Ben", "Dee", "Eve"))
    marks = f"/api/schools/{school}/marks"
    if change == "mark":
        body = {"user_id": ada, "date": "2026-11-19", "status": "absent", "reason": "ill"}
        _ok(client.post(marks, json={"mark": body | {"excused": True}}))
    elif change == "planned range":  # the 25th and 26th past, the rest to come
        body = {"user_id": ada, "from": "2026-11-25", "to": "2026-12-04", "status": "absent"}
        _ok(client.post(marks, json={"mark": body | {"reason": "trip"}}))
    elif change == "clearing":
        [entry] = _ok(client.get(f"{marks}?user_id={dee}"), 200)
        _ok(client.delete(f"{marks}/{entry['id']}"), 204)
    elif change == "enrolment":
        _ok(client.patch(f"/api/users/{ben}", json={"enrolled_from": "2026-11-16"}), 200)
    elif change == "archive":
        _ok(client.delete(f"/api/users/{ada}"), 204)
    elif change == "move":
        other = db.session.scalar(select(School.id).where(School.name == "Elsewhere"))
        _ok(client.put(f"/api/users/{ada}", json={"school_id": other}), 200)
    elif change == "enrolment end":
        _ok(client.put(f"/api/users/{eve}", json={"enrolled_until": "2026-11-24"}), 200)
    elif change == "regroup":
        _ok(client.put(f"/api/users/{eve}", json={"group": "5A", "name": "Eve B."}), 200)
    elif change == "chronic settings":
        body = {"chronic_ratio": "0.5", "chronic_min_days": 2}
        _ok(client.put(f"/api/schools/{school}", json=body), 200)
    elif change == "late_after":
        _ok(client.put(f"/api/schools/{school}", json={"late_after": "08:45"}), 200)
    elif change == "day_end":
        _ok(client.patch(f"/api/schools/{school}", json={"day_end": None}), 200)
    else:
        raise AssertionError(change)


@pytest.mark.parametrize(
    ("change", "touched"),
    [
        ("mark", ["2026-11-19"]),
        ("planned range", ["2026-11-25", "2026-11-26"]),
        ("clearing", ["2026-11-24"]),
        ("enrolment", ["2026-11-16", "2026-11-17"]),
        ("archive", []),  # ends yesterday: today and later only
        ("move", []),
        ("enrolment end", ["2026-11-25", "2026-11-26"]),
        ("regroup", []),  # no date: the reports that show groups or names change
        ("chronic settings", []),  # no date: a range's figure
        ("late_after", BUSY),  # every date
        ("day_end", BUSY),
    ],
)
def test_a_change_recomputes_exactly_the_dates_it_touches(
    client, db, school_life, change: str, touched: list[str]
):
    before = aggregate(client, school_life, *PAST, "day")
    assert _computed(db, before) == BUSY
    _change(client, db, school_life, change)
    db.session.expire_all()
    for extra, group in [("&users=true", None), ("&users=true&group=5A", "5A")]:
        after = aggregate(client, school_life, *PAST, "day", extra)
        report, users = oracle(db, school_life, *PAST, "day", group)
        assert (figures(after), after["users"]) == (report, users)
        assert _computed(db, after) == (touched if group is None else [])
    again = aggregate(client, school_life, *PAST, "day")
    assert figures(again) == oracle(db, school_life, *PAST, "day")[0]


def _computed(db, doc: dict[str, Any]) -> list[str]:
    """The dates of the report that were computed (not cached, empty or future)."""
    rows = db.session.execute(
        select(ReportChunk.day, ReportChunk.source).where(ReportChunk.report_id == doc["report_id"])
    )
    return sorted(day.isoformat() for day, source in rows if source == "computed")
