"""Redis unreachable (REDIS_URL on a closed port): check-ins are still stored, a report
request is a clean 503 with Retry-After and leaves no report stuck `queued`, and the
dashboard's school page still renders, saying that its figures are unavailable."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from attendance.models import Attendance, Report
from attendance.security import admins
from attendance.security.tokens import create_token
from tests.conftest import event_body

from .conftest import CLOSED_REDIS

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's


@pytest.fixture
def app(db, make_app):
    """An app whose Redis is a closed port (the session's app runs without Redis)."""
    return make_app(REDIS_URL=CLOSED_REDIS, JOBS_SYNCHRONOUS=False)


def bearer(app, db, role, school_id):
    _row, token = create_token(role, school_id, f"test {role}")
    db.session.commit()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def statuses(db, school_id):
    db.session.rollback()
    query = select(Report.status).where(Report.school_id == school_id)
    return sorted(db.session.scalars(query))


def test_check_ins_are_stored_and_reports_answer_503(app, db, make_user):
    user = make_user()
    school_id = user.school_id
    device = bearer(app, db, "device", school_id)
    assert device.post("/api/attendances", json=event_body(user)).status_code == 201
    assert db.session.scalar(select(Attendance.id).where(Attendance.user_id == user.id))

    api = bearer(app, db, "school", school_id)
    url = f"/api/attendances/aggregate/school/{school_id}?from=2026-11-02&to=2026-11-06&wait=1"
    resp = api.get(url)
    assert resp.status_code == 503, resp.get_data(as_text=True)
    detail = resp.json["errors"]["detail"]
    assert "unavailable" in detail and "try again" in detail.lower()
    assert int(resp.headers["Retry-After"]) > 0
    assert "s3cret" not in resp.get_data(as_text=True)  # nothing of REDIS_URL leaks
    # The report that could not be queued is failed, not left queued for ever...
    assert statuses(db, school_id) == ["failed"]
    # ...so the next request starts a fresh one (and is refused cleanly again).
    again = api.get(url)
    assert again.status_code == 503 and again.headers["Retry-After"]
    assert statuses(db, school_id) == ["failed", "failed"]

    assert app.test_client().get("/readyz").status_code == 503  # unchanged


def signed_in(app, db, school_id, monkeypatch):
    """A dashboard client signed in as the school's admin."""
    monkeypatch.setattr(
        admins, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    admin = admins.create_admin("head@example.org", PASSWORD, "school", school_id)
    db.session.commit()
    client = app.test_client()
    login = client.get("/dashboard/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    form = {"email": admin.email, "password": PASSWORD, "csrf_token": csrf}
    assert client.post("/dashboard/login", data=form).status_code == 302
    return client


def test_the_school_page_renders_without_figures(app, db, make_school, monkeypatch):
    school = make_school(name="Brookfield")
    school_id = school.id
    client = signed_in(app, db, school_id, monkeypatch)

    resp = client.get(f"/dashboard/schools/{school_id}?from=2026-11-02&to=2026-11-06")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    page = resp.get_data(as_text=True)
    assert "Brookfield" in page  # the page around the figures is still there
    assert "unavailable right now" in page
    assert "data-progress" not in page  # no progress bar polling a report that never runs
    assert "s3cret" not in page
    assert set(statuses(db, school_id)) == {"failed"}


def test_the_csv_export_answers_503_with_retry_after(app, db, make_school, monkeypatch):
    """Not a 500 "The report failed": the client may simply ask again."""
    school_id = make_school(name="Brookfield").id
    client = signed_in(app, db, school_id, monkeypatch)

    resp = client.get(f"/dashboard/schools/{school_id}/report.csv?from=2026-11-02&to=2026-11-06")
    assert resp.status_code == 503, resp.get_data(as_text=True)[:2000]
    assert int(resp.headers["Retry-After"]) > 0
    text = resp.get_data(as_text=True)
    assert "unavailable right now" in text and "failed" not in text
    assert "s3cret" not in text
    assert statuses(db, school_id) == ["failed"]  # failed, not left queued
