"""The district overview (every school's today in one pass) and its range view."""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal

import pytest

from attendance import clock, create_app, presence
from attendance.extensions import db as _db
from attendance.services import fever as fever_service
from attendance.services import overview

ALL_WEEK = [1, 2, 3, 4, 5, 6, 7]
NOW = dt.datetime(2026, 11, 25, 11, 0, 0, tzinfo=dt.UTC)


def cells(page: str, school_id: int) -> dict[str, str]:
    row = page.split(f'data-school-id="{school_id}"')[1].split("</tr>")[0]
    return dict(re.findall(r'data-field="(\w+)">\s*(.*?)\s*</td>', row, re.S))


def _district(make_school, make_user, make_event, seed: int = 7):
    """Four schools in three timezones, pupils in and out this morning and the day before
    (a fever, a checkout without a check-in, a pupil who left, one who has not started)."""
    rng = random.Random(seed)
    schools = []
    for i, tz in enumerate(["UTC", "Europe/Paris", "Asia/Ho_Chi_Minh", "America/New_York"]):
        school = make_school(name=f"School {i}", timezone=tz, school_days=ALL_WEEK)
        schools.append(school)
        for j in range(rng.randint(2, 6)):
            until = NOW.date() - dt.timedelta(days=1) if j == 5 else None
            user = make_user(school=school, name=f"Pupil {i}.{j}", enrolled_until=until)
            for back in (0, 1):
                day_start = NOW - dt.timedelta(days=back, hours=rng.randint(1, 5))
                kinds = rng.choice([["checkin"], ["checkin", "checkout"], ["checkout"], []])
                for k, kind in enumerate(kinds):
                    temperature = Decimal("38.1") if rng.random() < 0.2 else Decimal("36.6")
                    make_event(user=user, type=kind, temperature=temperature,
                               timestamp=day_start + dt.timedelta(minutes=30 * k))  # fmt: skip
    return schools


def test_overview_figures_equal_each_schools_one_day_report(
    client, api, make_admin, login, make_school, make_user, make_event, monkeypatch
):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    schools = _district(make_school, make_user, make_event)
    login(make_admin())
    page = client.get("/dashboard/").get_data(as_text=True)
    assert 'id="as-of"' in page and "11:00:00 UTC" in page
    for school in schools:
        doc = api.get(f"/api/attendances/aggregate/school/{school.id}?wait=10").json["data"]
        shown = cells(page, school.id)
        assert shown["enrolled"] == str(doc["enrolled"])
        assert shown["present"] == str(doc["presences"])
        assert shown["absent"] == str(doc["absences"])
        today = presence.local_today(NOW, school.timezone)
        with_fever = fever_service.fever_count(school, today, today)
        assert re.sub(r"<[^>]+>|⚠", "", shown["fever_alerts"]).strip() == str(with_fever)


def test_overview_in_school_now_and_fever_alerts(
    client, make_admin, login, make_school, make_user, make_event, monkeypatch
):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    paris = make_school(name="Paris", timezone="Europe/Paris", school_days=ALL_WEEK)
    ada, bea, cal = (make_user(school=paris, name=n) for n in ("Ada", "Bea", "Cal"))
    make_event(user=ada, timestamp=NOW - dt.timedelta(hours=2), temperature=Decimal("38.5"))
    make_event(user=bea, timestamp=NOW - dt.timedelta(hours=3))
    make_event(user=bea, timestamp=NOW - dt.timedelta(hours=2), type="checkout")
    # Yesterday evening in Paris (23:30 local): not today's, neither in nor a fever today.
    make_event(user=cal, timestamp=dt.datetime(2026, 11, 24, 22, 30, tzinfo=dt.UTC),
               temperature=Decimal("39.0"))  # fmt: skip
    login(make_admin())
    shown = cells(client.get("/dashboard/").get_data(as_text=True), paris.id)
    assert (shown["enrolled"], shown["in_school"], shown["present"], shown["absent"]) == (
        "3", "1", "1", "2",
    )  # fmt: skip
    assert "⚠ 1" in shown["fever_alerts"]


def test_range_view_table_chart_and_sorting(
    client, api, make_admin, login, make_school, make_user, make_event, monkeypatch
):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    schools = _district(make_school, make_user, make_event, seed=3)
    login(make_admin())
    start, end = NOW.date() - dt.timedelta(days=3), NOW.date()
    base = f"/dashboard/range?from={start}&to={end}"
    page = client.get(base).get_data(as_text=True)
    assert 'id="chart-district-rate-data"' in page
    doc = api.get(f"/api/attendances/aggregate/district?from={start}&to={end}&wait=10").json["data"]
    for row in doc["schools"]:
        shown = cells(page, row["school_id"])
        assert (shown["enrolled"], shown["presences"], shown["absences"]) == (
            str(row["enrolled"]), str(row["presences"]), str(row["absences"]),
        )  # fmt: skip
    order = re.findall(r'<tr data-school-id="(\d+)"', page.split('id="range-table"')[1])
    assert order == [str(s.id) for s in sorted(schools, key=lambda s: s.name)]
    page = client.get(base + "&sort=enrolled&dir=desc").get_data(as_text=True)
    order = [int(i) for i in re.findall(r'<tr data-school-id="(\d+)"', page)]
    enrolled = {r["school_id"]: r["enrolled"] for r in doc["schools"]}
    assert [enrolled[i] for i in order] == sorted(enrolled.values(), reverse=True)
    assert 'aria-sort="descending"' in page


def test_range_view_is_for_district_admins(client, make_admin, login, make_school):
    school = make_school()
    login(make_admin(role="school", school_id=school.id))
    assert client.get("/dashboard/range").status_code == 403


@pytest.fixture
def redis_app(app_config, redis_url, db):
    """An app on Redis (the overview keeps its snapshot there); its pools closed after."""
    app = create_app({**app_config, "REDIS_URL": redis_url, "JOBS_SYNCHRONOUS": False})
    yield app
    with app.app_context():
        for engine in _db.engines.values():
            engine.dispose()


def test_overview_snapshot_is_shown_while_fresh_and_refreshed_by_workers(
    redis_app, make_school, make_user, make_event, monkeypatch
):
    instant = {"now": NOW}
    monkeypatch.setattr(clock, "now", lambda: instant["now"])
    school = make_school(name="Paris", timezone="Europe/Paris", school_days=ALL_WEEK)
    ada, bea = make_user(school=school, name="Ada"), make_user(school=school, name="Bea")
    make_event(user=ada, timestamp=NOW - dt.timedelta(hours=1))

    def current() -> overview.Snapshot:
        with redis_app.app_context():
            return overview.current()

    def refresh() -> bool:
        with redis_app.app_context():
            return overview.refresh_if_due()

    first = current()
    assert first.as_of == NOW and first.schools[school.id].in_school == 1
    # Bea arrives; 30 s later the page still shows the snapshot, as of its instant.
    make_event(user=bea, timestamp=NOW + dt.timedelta(seconds=10))
    instant["now"] = NOW + dt.timedelta(seconds=30)
    shown = current()
    assert shown.as_of == NOW and shown.schools[school.id].in_school == 1
    # A worker's reaper pass finds it older than OVERVIEW_REFRESH (20 s): a new one.
    assert refresh() and not refresh()
    shown = current()
    assert shown.as_of == NOW + dt.timedelta(seconds=30)
    assert shown.schools[school.id].in_school == 2
    # A school the snapshot does not have: computed anew, not left out.
    other = make_school(name="Lyon")
    assert other.id in current().schools
    # Older than 60 s, a snapshot is never shown: the page computes the figures itself.
    instant["now"] = NOW + dt.timedelta(seconds=91)
    assert current().as_of == NOW + dt.timedelta(seconds=91)
