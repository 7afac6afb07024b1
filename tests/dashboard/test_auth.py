"""Signing in and out, CSRF on forms, expiring sessions, and school scoping."""

from __future__ import annotations

import time

import pytest

from attendance.security import admins

from .conftest import PASSWORD, csrf_token


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",
        "/dashboard/schools/1",
        "/dashboard/schools/1/users",
        "/dashboard/schools/1/users/1",
        "/dashboard/schools/1/settings",
        "/dashboard/schools/1/report.csv",
        "/dashboard/reports/status",
        "/dashboard/attendances/1/photo",
    ],
)
def test_every_page_needs_a_login(client, path):
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/dashboard/login?next=")


def test_status_endpoint_answers_401_to_scripts(client):
    resp = client.get("/dashboard/reports/status", headers={"Accept": "application/json"})
    assert resp.status_code == 401


def test_root_redirects_to_the_dashboard(client):
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/dashboard/"


def test_login_then_back_to_the_page_asked_for(client, make_admin, make_school):
    school = make_school()
    admin = make_admin()
    token = csrf_token(client)
    resp = client.post(
        "/dashboard/login",
        data={
            "email": admin.email,
            "password": PASSWORD,
            "csrf_token": token,
            "next": f"/dashboard/schools/{school.id}",
        },
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/dashboard/schools/{school.id}"
    assert client.get(f"/dashboard/schools/{school.id}").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil", "x"])
def test_login_never_redirects_off_site(client, make_admin, target):
    admin = make_admin()
    token = csrf_token(client)
    resp = client.post(
        "/dashboard/login",
        data={
            "email": admin.email,
            "password": PASSWORD,
            "csrf_token": token,
            "next": target,
        },
    )
    assert resp.headers["Location"] == "/dashboard/"


def test_wrong_password_or_disabled_account(client, make_admin, login):
    admin = make_admin()
    resp = login(admin, password="wrong")
    assert resp.status_code == 401
    assert "do not match an active admin account" in resp.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302
    disabled = make_admin(disabled=True)
    assert login(disabled).status_code == 401


def test_login_form_without_csrf_token_is_refused(client, make_admin):
    admin = make_admin()
    client.get("/dashboard/login")
    resp = client.post("/dashboard/login", data={"email": admin.email, "password": PASSWORD})
    assert resp.status_code == 400
    assert "reload the page" in resp.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302


def test_logout_needs_post_with_csrf(client, make_admin, login):
    login(make_admin())
    assert "Sign out?" in client.get("/dashboard/logout").get_data(as_text=True)
    assert client.post("/dashboard/logout").status_code == 400  # no token: still signed in
    assert client.get("/dashboard/").status_code == 200
    token = csrf_token(client, "/dashboard/")
    resp = client.post("/dashboard/logout", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/dashboard/login"
    assert client.get("/dashboard/").status_code == 302


def test_session_expires_after_the_maximum_age(app, client, make_admin, login):
    login(make_admin())
    assert client.get("/dashboard/").status_code == 200
    too_old = app.config["DASHBOARD_SESSION_MAX_AGE"].total_seconds() + 1
    with client.session_transaction() as session:
        session["login_at"] = int(time.time() - too_old)
    assert client.get("/dashboard/").status_code == 302


def test_session_cookie_is_permanent_and_idle_limited(app, client, make_admin, login):
    resp = login(make_admin())
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert app.permanent_session_lifetime.total_seconds() <= 3600


def test_disabling_an_account_ends_its_sessions(client, make_admin, login, db):
    admin = make_admin()
    login(admin)
    assert client.get("/dashboard/").status_code == 200
    admins.set_disabled(admin, True)
    db.session.commit()
    assert client.get("/dashboard/").status_code == 302


def test_login_records_the_time(make_admin, login):
    admin = make_admin()
    assert admin.last_login_at is None
    login(admin)
    assert admin.last_login_at is not None


def test_sign_in_attempts_are_rate_limited(app, make_admin, login, monkeypatch):
    admin = make_admin()
    monkeypatch.setitem(app.config, "DASHBOARD_LOGIN_LIMIT", "3/minute")
    statuses = [login(admin, password="wrong password").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    resp = login(admin)  # even the right password, until the minute is over
    assert resp.status_code == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    assert "Too many sign-in attempts" in resp.get_data(as_text=True)


def test_school_admin_sees_only_their_school(client, make_admin, login, make_school):
    mine, other = make_school(name="Mine"), make_school(name="Other")
    login(make_admin(role="school", school_id=mine.id))
    resp = client.get("/dashboard/")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/dashboard/schools/{mine.id}"
    assert client.get(f"/dashboard/schools/{mine.id}").status_code == 200
    for path in ("", "/users", "/settings", "/report.csv"):
        resp = client.get(f"/dashboard/schools/{other.id}{path}")
        assert resp.status_code == 403, path
        assert "belongs to another school" in resp.get_data(as_text=True)
    # The school switcher is a district admin's tool.
    assert "Switch school" not in client.get(f"/dashboard/schools/{mine.id}").get_data(as_text=True)


def test_school_admin_cannot_change_another_schools_settings(
    client, make_admin, login, make_school
):
    mine, other = make_school(name="Mine"), make_school(name="Other", timezone="UTC")
    login(make_admin(role="school", school_id=mine.id))
    token = csrf_token(client, f"/dashboard/schools/{mine.id}/settings")
    resp = client.post(
        f"/dashboard/schools/{other.id}/settings",
        data={"csrf_token": token, "timezone": "Europe/Paris", "school_days": ["1"]},
    )
    assert resp.status_code == 403
    assert other.timezone == "UTC"


def test_district_admin_sees_every_school_and_can_switch(client, make_admin, login, make_school):
    one, two = make_school(name="Alpha"), make_school(name="Beta")
    login(make_admin())
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "Alpha" in page and "Beta" in page and "Switch school" in page
    resp = client.get(f"/dashboard/schools/go?school_id={two.id}")
    assert resp.headers["Location"] == f"/dashboard/schools/{two.id}"
    assert client.get(f"/dashboard/schools/{one.id}").status_code == 200


def test_unknown_school_is_404_page(client, make_admin, login):
    login(make_admin())
    resp = client.get("/dashboard/schools/999")
    assert resp.status_code == 404
    assert "text/html" in resp.content_type
