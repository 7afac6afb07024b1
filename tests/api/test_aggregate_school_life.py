"""The aggregate endpoint's school-life figures (api.md "The aggregate endpoint, school-life
fields"): enrolments, marks, day_end, late_after, chronic, `users=true` and `group=`, each
figure compared with the naive oracle built from the same inputs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from attendance import clock
from attendance.models import Attendance, Enrolment, Mark, ReportChunk, School, User

from ..unit.oracle import EPOCH, oracle_school_report

D = dt.date
NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)  # Friday
START, END = D(2026, 11, 16), D(2026, 11, 30)  # two past weeks, today, a future Monday
USER_FIELDS = [
    "user_id", "name", "external_id", "group", "counted_days", "present_days",
    "absent_days", "excused_days", "late_days", "present", "chronic", "absence_streak",
]  # fmt: skip


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.instant = NOW
        monkeypatch.setattr(clock, "now", lambda: self.instant)

    def at(self, day: D, hour: int, minute: int = 0) -> None:
        self.instant = dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


def _ok(resp: Any, status: int = 201) -> Any:
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.json["data"] if status != 204 else None


@pytest.fixture
def school_life(client, db, monkeypatch):
    """A school with enrolment spans, marks, day_end and late_after, made through the API
    with the clock set at each event's instant."""
    time = Clock(monkeypatch)
    time.at(D(2026, 11, 1), 9)
    body = {"name": "Life", "day_end": "16:00", "late_after": "08:15",
            "chronic_ratio": 0.25, "chronic_min_days": 3}  # fmt: skip
    school = _ok(client.post("/api/schools", json=body))
    other = _ok(client.post("/api/schools", json={"name": "Elsewhere"}))

    def pupil(name: str, group: str, **extra: Any) -> int:
        body = {"name": name, "school_id": school["id"], "group": group,
                "external_id": name.lower(), **extra}  # fmt: skip
        return _ok(client.post("/api/users", json=body))["id"]

    ada = pupil("Ada", "5B")
    ben = pupil("Ben", "5B", enrolled_from="2026-11-18")  # joins mid-range
    cy = pupil("Cy", "5A")  # archived today
    dee = pupil("Dee", "5B")  # moves away today
    eve = pupil("Eve", "5A")  # regrouped into 5B today

    def visit(user: int, day: D, *moves: tuple[str, int, int]) -> None:
        for kind, hour, minute in moves:
            time.at(day, hour, minute)
            body = {"user_id": user, "school_id": school["id"], "type": kind, "temperature": 36.6}
            _ok(client.post("/api/attendances", json=body))

    days = [START + dt.timedelta(days=i) for i in range(12)]
    days = [day for day in days if day.isoweekday() <= 5]
    for day in days:
        if day == NOW.date():
            continue
        visit(ada, day, ("checkin", 8, 0), ("checkout", 13, 0))
        if day >= D(2026, 11, 18):
            visit(ben, day, ("checkin", 8, 10), ("checkout", 12, 30))
        if day.day % 3 == 0:
            visit(cy, day, ("checkin", 8, 20), ("checkout", 12, 40))  # late
        if day.day % 2 == 0:
            visit(dee, day, ("checkin", 9, 0), ("checkout", 14, 0))
    visit(eve, D(2026, 11, 25), ("checkin", 8, 30))  # no checkout: closed at day_end
    visit(eve, D(2026, 11, 24), ("checkout", 7, 50), ("checkin", 8, 20), ("checkout", 13, 0))
    visit(ben, D(2026, 11, 23), ("checkin", 7, 0), ("checkout", 9, 0))  # a short day ...
    time.instant = NOW - dt.timedelta(minutes=30)
    visit(eve, NOW.date(), ("checkin", 9, 30))  # checked in now, late

    time.instant = NOW
    marks = f"/api/schools/{school['id']}/marks"

    def mark(user: int, day: str, status: str, **extra: Any) -> dict[str, Any]:
        body = {"mark": {"user_id": user, "date": day, "status": status, "reason": "r", **extra}}
        return _ok(client.post(marks, json=body))[0]

    mark(ben, "2026-11-23", "present", reason="gate reader down")  # ... marked present
    mark(dee, "2026-11-24", "absent", excused=True)  # present by time, excused absent
    mark(ada, "2026-11-30", "absent", excused=True)  # a planned absence
    cleared = mark(cy, "2026-11-20", "present")
    _ok(client.delete(f"{marks}/{cleared['id']}"), 204)  # a clearing
    _ok(client.delete(f"/api/users/{cy}"), 204)  # archived: enrolled until Thursday
    moved = {"school_id": other["id"]}
    _ok(client.patch(f"/api/users/{dee}", json=moved), 200)  # moved away: until Thursday
    _ok(client.patch(f"/api/users/{eve}", json={"group": "5B"}), 200)
    return school["id"]


def oracle(db, school_id: int, start: D, end: D, granularity: str, group: str | None = None):
    """The oracle's report and per-user figures from what the database holds."""
    school = db.session.get(School, school_id)
    enrolments: dict[int, list[Any]] = {}
    for e in db.session.scalars(select(Enrolment).where(Enrolment.school_id == school_id)):
        enrolments.setdefault(e.user_id, []).append((e.from_, e.until))
    users = db.session.scalars(select(User).where(User.id.in_(enrolments))).all()
    ids = [u.id for u in users if group is None or u.group == group]
    events = db.session.scalars(select(Attendance).where(Attendance.school_id == school_id)).all()
    marks = [
        _Mark(m.user_id, m.date, m.status, m.excused, EPOCH, m.id)
        for m in db.session.scalars(select(Mark).where(Mark.school_id == school_id))
    ]
    wall = lambda t: None if t is None else (t.hour, t.minute)  # noqa: E731
    report, per_user, _life = oracle_school_report(
        events, ids, start, end, granularity, school.timezone, set(school.school_days),
        {c.date for c in school.closures}, school.min_daily_hours, school.period_ratio,
        NOW, enrolments, marks, wall(school.day_end), wall(school.late_after),
        school.chronic_ratio, school.chronic_min_days,
    )  # fmt: skip
    named = {u.id: u for u in users}
    listed = [
        {
            "user_id": uid,
            "name": named[uid].name,
            "external_id": named[uid].external_id,
            "group": named[uid].group,
            **{k: figures[k] for k in USER_FIELDS[4:]},
        }
        for uid, figures in sorted(per_user.items())
        if figures["counted_days"]
    ]
    return report, listed


class _Mark:
    def __init__(self, user_id, day, status, excused, recorded_at, sequence):
        self.user_id, self.day, self.status, self.excused = user_id, day, status, excused
        self.recorded_at, self.sequence = recorded_at, sequence


def aggregate(client, school_id: int, start: D, end: D, granularity: str, extra: str = ""):
    query = f"from={start}&to={end}&granularity={granularity}{extra}"
    resp = client.get(f"/api/attendances/aggregate/school/{school_id}?{query}")
    assert resp.status_code == 200, resp.json
    doc = resp.json["data"]
    assert doc["status"] == "finished", doc
    return doc


def figures(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("from", "to", "granularity", "enrolled", "presences", "absences", "chronic", "buckets")
    return {k: doc[k] for k in keys}


@pytest.mark.parametrize("granularity", ["day", "week"])
@pytest.mark.parametrize("group", [None, "5B", "5A", "none-such"])
def test_every_figure_matches_the_oracle(client, db, school_life, granularity, group):
    extra = "&users=true" + ("" if group is None else f"&group={group}")
    doc = aggregate(client, school_life, START, END, granularity, extra)
    report, users = oracle(db, school_life, START, END, granularity, group)
    assert figures(doc) == report
    assert doc["users"] == users
    assert all(list(u) == USER_FIELDS for u in doc["users"])
    if group == "5B":  # Eve, regrouped today, counts under 5B for the whole range
        assert [u["name"] for u in doc["users"]] == ["Ada", "Ben", "Dee", "Eve"]
    if group is None:  # the fixture's reach
        assert report["chronic"] and any(u["late_days"] for u in users)
        assert (
            any(u["excused_days"] for u in users)
            and any(b["excused"] for b in report["buckets"] if "excused" in b)
            or granularity == "week"
        )
    if group == "none-such":
        assert doc["users"] == [] and doc["chronic"] == 0
    plain = aggregate(
        client, school_life, START, END, granularity, extra.replace("&users=true", "")
    )
    assert "users" not in plain and figures(plain) == figures(doc)


def test_a_single_date_and_today(client, db, school_life):
    for day in (D(2026, 11, 24), NOW.date(), END):
        doc = aggregate(client, school_life, day, day, "day", "&users=true&group=5B")
        report, users = oracle(db, school_life, day, day, "day", "5B")
        assert (figures(doc), doc["users"]) == (report, users)


def test_group_and_users_are_validated(client, school_life):
    url = f"/api/attendances/aggregate/school/{school_life}?from=2026-11-16&to=2026-11-20"
    for extra in ("&group=", "&group=" + "x" * 65, "&users=maybe"):
        resp = client.get(url + extra)
        assert resp.status_code == 422, extra
    assert client.get(url + "&group=" + "x" * 64).status_code == 200


def test_a_late_mark_changes_exactly_its_date_at_once(client, db, school_life):
    past = (START, D(2026, 11, 26))
    first = aggregate(client, school_life, *past, "day", "&users=true")
    assert figures(first) == oracle(db, school_life, *past, "day")[0]
    # Asked again: every past date comes from the day cache.
    aggregate(client, school_life, *past, "day", "&group=5B")
    sources = db.session.scalars(
        select(ReportChunk.source)
        .join(ReportChunk.report)
        .where(ReportChunk.report.has(group="5B"))
    ).all()
    assert "computed" not in sources and "cache" in sources

    ada = db.session.scalar(select(User.id).where(User.name == "Ada"))
    body = {"mark": {"user_id": ada, "date": "2026-11-19", "status": "absent",
                     "reason": "sent home ill", "excused": True}}  # fmt: skip
    created = _ok(client.post(f"/api/schools/{school_life}/marks", json=body))[0]
    second = aggregate(client, school_life, *past, "day", "&users=true")
    report, users = oracle(db, school_life, *past, "day")
    assert (figures(second), second["users"]) == (report, users)
    changed = [
        a["date"] for a, b in zip(first["buckets"], second["buckets"], strict=True) if a != b
    ]
    assert changed == ["2026-11-19"]
    before = {u["user_id"]: u for u in first["users"]}[ada]
    after = {u["user_id"]: u for u in second["users"]}[ada]
    assert (after["absent_days"], after["excused_days"]) == (
        before["absent_days"] + 1,
        before["excused_days"] + 1,
    )

    _ok(client.delete(f"/api/schools/{school_life}/marks/{created['id']}"), 204)
    third = aggregate(client, school_life, *past, "day", "&users=true")
    assert (figures(third), third["users"]) == (figures(first), first["users"])


def test_openapi_describes_users_and_group(client):
    spec = client.get("/api/openapi.json").json
    schemas = spec["components"]["schemas"]
    users = schemas["Report"]["properties"]["users"]
    assert users["type"] == "array"
    listed = users["items"]["$ref"].rsplit("/", 1)[-1]
    assert list(schemas[listed]["properties"]) == USER_FIELDS
    op = spec["paths"]["/api/attendances/aggregate/school/{school_id}"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["users"]["schema"]["type"] == "boolean"
    assert params["group"]["schema"]["maxLength"] == 64


def test_a_regrouped_or_renamed_pupil_shows_at_once_in_a_past_range(client, db, school_life):
    past = (START, D(2026, 11, 26))
    ada = db.session.scalar(select(User.id).where(User.name == "Ada"))
    before = aggregate(client, school_life, *past, "week", "&users=true&group=5A")
    assert ada not in [u["user_id"] for u in before["users"]]
    _ok(client.patch(f"/api/users/{ada}", json={"group": "5A", "name": "Ada L."}), 200)
    after = aggregate(client, school_life, *past, "week", "&users=true&group=5A")
    report, users = oracle(db, school_life, *past, "week", "5A")
    assert (figures(after), after["users"]) == (report, users)
    assert "Ada L." in [u["name"] for u in after["users"]]
