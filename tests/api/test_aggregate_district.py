"""The district report: `GET /api/attendances/aggregate/district` and its document, each
school's figures against the naive oracle (summed for the district), the pipeline's day
cache shared with the schools' reports."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from attendance import clock
from attendance.models import (
    Attendance,
    DaySummary,
    Enrolment,
    Mark,
    Report,
    ReportChunk,
    School,
    User,
)

from ..unit.oracle import EPOCH, all_dates, oracle_school_report

D = dt.date
NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)  # a Friday
URL = "/api/attendances/aggregate/district"
KEYS = [
    "from", "to", "granularity", "enrolled", "presences", "absences", "chronic", "buckets",
    "schools", "report_id", "status", "generated_at",
]  # fmt: skip


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def district(client, query: str) -> dict[str, Any]:
    resp = client.get(f"{URL}?{query}&wait=10")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.json["data"]
    assert doc["status"] == "finished", doc
    return doc


def test_document_shape_and_today_by_default(client, frozen, make_school, make_user, make_event):
    a, b = make_school(name="Alpha"), make_school(name="Beta", timezone="Europe/Paris")
    ada = make_user(school=a, name="Ada")
    make_user(school=b, name="Ben")
    make_event(user=ada, timestamp=NOW - dt.timedelta(hours=1))
    doc = district(client, "")
    assert list(doc) == KEYS
    assert doc["from"] == doc["to"] == "2026-11-27" and doc["granularity"] == "day"
    assert (doc["enrolled"], doc["presences"], doc["absences"]) == (2, 1, 1)
    assert doc["schools"] == [
        {"school_id": a.id, "name": "Alpha", "enrolled": 1, "presences": 1, "absences": 0,
         "chronic": 0},
        {"school_id": b.id, "name": "Beta", "enrolled": 1, "presences": 0, "absences": 1,
         "chronic": 0},
    ]  # fmt: skip
    assert doc["buckets"] == [
        {"date": "2026-11-27", "school_day": True, "enrolled": 2, "present": 1, "absent": 1,
         "excused": 0, "late": None},
    ]  # fmt: skip
    assert doc["generated_at"] == "2026-11-27T10:00:00Z"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01", "from"),
        ("from=2026-11-10&to=2026-11-01", "from"),
        ("granularity=year", "granularity"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("from=1999-12-31&to=2000-01-01", "from"),
        ("wait=-1", "wait"),
        ("wait=61", "wait"),
    ],
)
def test_validation(client, make_school, query, field):
    make_school()
    resp = client.get(f"{URL}?{query}")
    assert resp.status_code == 422
    assert field in resp.json["errors"], resp.json


def test_district_tokens_only(client_as, make_school):
    school = make_school()
    for who in ("school", "device"):
        resp = client_as(who, school).get(URL)
        assert resp.status_code == 403, who
    assert client_as("district").get(f"{URL}?from=2026-11-02&to=2026-11-02").status_code == 200


def test_a_school_token_cannot_read_a_district_report(client_as, make_school):
    school = make_school()
    doc = client_as("district").get(f"{URL}?from=2026-11-02&to=2026-11-02").json["data"]
    assert client_as("school", school).get(f"/api/reports/{doc['report_id']}").status_code == 404
    again = client_as("district").get(f"/api/reports/{doc['report_id']}")
    assert again.status_code == 200 and list(again.json["data"]) == KEYS


def test_fans_out_per_date_and_fills_the_schools_day_cache(
    client, db, frozen, make_school, make_user, make_event
):
    schools = [make_school(name=f"S{i}") for i in range(3)]
    for school in schools:
        user = make_user(school=school)
        make_event(user=user, timestamp=dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC))
        make_event(user=user, timestamp=dt.datetime(2026, 11, 23, 13, tzinfo=dt.UTC),
                   type="checkout")  # fmt: skip
    doc = district(client, "from=2026-11-20&to=2026-11-30&granularity=week")
    report = db.session.get(Report, doc["report_id"])
    assert report.school_id is None and report.chunks_total == 11
    # Every past date of every school is in the day cache the schools' reports read.
    cached = db.session.scalar(select(func.count()).select_from(DaySummary))
    assert cached == 3 * 7  # 20..26 Nov: past at every school
    school_doc = client.get(
        f"/api/attendances/aggregate/school/{schools[0].id}?from=2026-11-20&to=2026-11-26&wait=10"
    ).json["data"]
    sources = db.session.scalars(
        select(ReportChunk.source).where(ReportChunk.report_id == school_doc["report_id"])
    ).all()
    assert set(sources) == {"cache"}
    assert doc["enrolled"] == 3 and [s["enrolled"] for s in doc["schools"]] == [1, 1, 1]


def test_a_mark_changes_the_next_district_report(
    client, db, frozen, make_school, make_user, make_event
):
    school = make_school()
    ada = make_user(school=school, name="Ada")
    query = "from=2026-11-23&to=2026-11-23"
    assert district(client, query)["presences"] == 0
    mark = {"user_id": ada.id, "date": "2026-11-23", "status": "present", "reason": "trip"}
    resp = client.post(f"/api/schools/{school.id}/marks", json={"mark": mark})
    assert resp.status_code == 201
    assert district(client, query)["presences"] == 1


def test_a_past_range_is_shared_until_its_data_changes(client, frozen, make_school, make_user):
    school = make_school()
    ada = make_user(school=school)
    query = "from=2026-11-02&to=2026-11-06&granularity=week"
    first = district(client, query)
    assert district(client, query)["report_id"] == first["report_id"]
    for kind, at in (("checkin", "2026-11-03T08:00:00Z"), ("checkout", "2026-11-03T14:00:00Z")):
        body = {"user_id": ada.id, "school_id": school.id, "type": kind, "temperature": 36.6,
                "timestamp": at}  # fmt: skip
        assert client.post("/api/attendances", json=body).status_code == 201  # a late sync
    second = district(client, query)
    assert second["report_id"] != first["report_id"]
    assert second["schools"][0]["presences"] == 0  # 1 of 5 days is not more than 80 %


# -- every figure against the oracle, on random small districts -----------------------------

ZONES = ["UTC", "Europe/Paris", "Asia/Ho_Chi_Minh", "America/New_York", "Pacific/Auckland"]
START, END = D(2026, 11, 9), D(2026, 11, 30)  # past weeks, today (27th), future days


def _random_district(db, rng: random.Random) -> list[School]:
    """Two to four schools with their own settings, pupils with enrolment spans, events
    (sessions, orphan checkouts, unclosed ones) and marks."""
    schools = []
    for i in range(rng.randint(2, 4)):
        school = School(
            name=f"School {i}",
            timezone=rng.choice(ZONES),
            school_days=sorted(rng.sample(range(1, 8), rng.randint(3, 6))),
            min_daily_hours=Decimal(rng.choice(["2", "4", "5.5"])),
            period_ratio=Decimal(rng.choice(["0.5", "0.8"])),
            late_after=rng.choice([None, dt.time(8, 30)]),
            day_end=rng.choice([None, dt.time(16, 0)]),
            chronic_ratio=Decimal(rng.choice(["0.1", "0.3"])),
            chronic_min_days=rng.choice([1, 5, 10]),
        )
        db.session.add(school)
        db.session.flush()
        for day in rng.sample(all_dates(START, END), 2):
            school.closures.append(_closure(day))
        schools.append(school)
        for j in range(rng.randint(1, 5)):
            user = User(name=f"Pupil {i}.{j}", school_id=school.id)
            db.session.add(user)
            db.session.flush()
            first = rng.choice([None, START + dt.timedelta(days=rng.randint(0, 10))])
            until = rng.choice([None, None, END - dt.timedelta(days=rng.randint(0, 12))])
            db.session.add(
                Enrolment(user_id=user.id, school_id=school.id, from_=first, until=until)
            )
            for day in all_dates(START, END):
                if rng.random() < 0.35:
                    continue
                arrive = dt.datetime.combine(day, dt.time(rng.randint(5, 10)), dt.UTC)
                arrive += dt.timedelta(minutes=rng.randint(0, 59))
                kinds = rng.choice([["checkin", "checkout"], ["checkin"], ["checkout"],
                                    ["checkin", "checkout", "checkin", "checkout"]])  # fmt: skip
                for k, kind in enumerate(kinds):
                    ts = arrive + dt.timedelta(hours=rng.choice([1, 3, 5, 7]) * k)
                    if ts <= NOW:
                        db.session.add(Attendance(user_id=user.id, school_id=school.id,
                                                  type=kind, timestamp=ts,
                                                  temperature=Decimal("36.6")))  # fmt: skip
            for _ in range(rng.randint(0, 2)):
                day = rng.choice(all_dates(START, NOW.date()))
                status = rng.choice(["present", "absent"])
                db.session.add(Mark(user_id=user.id, school_id=school.id, date=day, status=status,
                                    excused=status == "absent" and rng.random() < 0.5,
                                    reason="test", created_by="test"))  # fmt: skip
    db.session.commit()
    return schools


def _closure(day: D) -> Any:
    from attendance.models import Closure

    return Closure(date=day, name="closed")


class _Mark:
    def __init__(self, user_id, day, status, excused, recorded_at, sequence):
        self.user_id, self.day, self.status, self.excused = user_id, day, status, excused
        self.recorded_at, self.sequence = recorded_at, sequence


def _oracle(db, school: School, granularity: str) -> dict[str, Any]:
    enrolments: dict[int, list[Any]] = {}
    for e in db.session.scalars(select(Enrolment).where(Enrolment.school_id == school.id)):
        enrolments.setdefault(e.user_id, []).append((e.from_, e.until))
    events = db.session.scalars(select(Attendance).where(Attendance.school_id == school.id)).all()
    marks = [
        _Mark(m.user_id, m.date, m.status, m.excused, EPOCH, m.id)
        for m in db.session.scalars(select(Mark).where(Mark.school_id == school.id))
    ]
    wall = lambda t: None if t is None else (t.hour, t.minute)  # noqa: E731
    report, _per_user, _life = oracle_school_report(
        events, sorted(enrolments), START, END, granularity, school.timezone,
        set(school.school_days), {c.date for c in school.closures}, school.min_daily_hours,
        school.period_ratio, NOW, enrolments, marks, wall(school.day_end),
        wall(school.late_after), school.chronic_ratio, school.chronic_min_days,
    )  # fmt: skip
    return report


def _sum(values: list[Any]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _summed_buckets(schools: list[School], reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The oracle's buckets summed over the schools (the district's rules: a day is a
    school day when it is one somewhere; a period's counted days, the union's)."""
    out = []
    for i, bucket in enumerate(reports[0]["buckets"]):
        mine = [r["buckets"][i] for r in reports]
        summed = {k: _sum([b[k] for b in mine]) for k in ("enrolled", "present", "absent")}
        if "date" in bucket:
            out.append({"date": bucket["date"], "school_day": any(b["school_day"] for b in mine),
                        **summed, "excused": _sum([b["excused"] for b in mine]),
                        "late": _sum([b["late"] for b in mine])})  # fmt: skip
            continue
        counted = set()
        for school in schools:
            today = NOW.astimezone(__import__("zoneinfo").ZoneInfo(school.timezone)).date()
            for day in all_dates(D.fromisoformat(bucket["start"]), D.fromisoformat(bucket["end"])):
                closed = {c.date for c in school.closures}
                if day.isoweekday() in school.school_days and day not in closed and day <= today:
                    counted.add(day)
        out.append({"start": bucket["start"], "end": bucket["end"], "counted_days": len(counted),
                    **summed})  # fmt: skip
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_every_figure_matches_the_oracle_summed_per_school(client, db, frozen, seed, granularity):
    schools = _random_district(db, random.Random(seed * 31 + len(granularity)))
    doc = district(client, f"from={START}&to={END}&granularity={granularity}")
    reports = [_oracle(db, school, granularity) for school in schools]
    expected_rows = [
        {"school_id": s.id, "name": s.name, "enrolled": r["enrolled"], "presences": r["presences"],
         "absences": r["absences"], "chronic": r["chronic"]}
        for s, r in sorted(zip(schools, reports, strict=True), key=lambda p: (p[0].name, p[0].id))
    ]  # fmt: skip
    assert doc["schools"] == expected_rows
    assert doc["enrolled"] == _sum([r["enrolled"] for r in reports])
    assert doc["presences"] == _sum([r["presences"] for r in reports])
    assert doc["absences"] == _sum([r["absences"] for r in reports])
    assert doc["chronic"] == sum(r["chronic"] for r in reports)
    assert doc["buckets"] == _summed_buckets(schools, reports)
