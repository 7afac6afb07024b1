"""A saved session cookie dies with logout, a new password and disabling, on every device."""

from __future__ import annotations

from .conftest import PASSWORD, FreshClient, csrf_token

NEW_PASSWORD = "a brand new passphrase"


def saved_cookie(client) -> str:
    """The session cookie the client holds now (what a thief or a second device would keep)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def replay(app, cookie: str):
    """GET the dashboard with nothing but the saved cookie."""
    other = FreshClient(app, app.response_class, use_cookies=True)
    other.set_cookie("session", cookie)
    return other.get("/dashboard/")


def test_the_saved_cookie_works_until_something_ends_it(app, client, make_admin, login):
    login(make_admin())
    assert replay(app, saved_cookie(client)).status_code == 200


def test_logout_ends_a_saved_copy_of_the_cookie(app, client, make_admin, login):
    login(make_admin())
    cookie = saved_cookie(client)
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    resp = replay(app, cookie)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/dashboard/login")


def test_logout_on_one_device_ends_the_others(app, client, make_admin, login):
    admin = make_admin()
    login(admin)
    laptop = FreshClient(app, app.response_class, use_cookies=True)
    token = csrf_token(laptop)
    laptop.post(
        "/dashboard/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token}
    )
    assert laptop.get("/dashboard/").status_code == 200
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    assert laptop.get("/dashboard/").status_code == 302
    # Signing in again starts a session that works.
    login(admin)
    assert client.get("/dashboard/").status_code == 200


def test_set_password_ends_every_session(app, client, make_admin, login, runner):
    admin = make_admin()
    login(admin)
    cookie = saved_cookie(client)
    result = runner.invoke(
        args=["admin", "set-password", "--email", admin.email], input=NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert replay(app, cookie).status_code == 302
    assert client.get("/dashboard/").status_code == 302
    assert login(admin, password=NEW_PASSWORD).status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_disabling_ends_every_session_for_good(app, client, make_admin, login, runner):
    admin = make_admin()
    login(admin)
    cookie = saved_cookie(client)
    assert runner.invoke(args=["admin", "disable", "--email", admin.email]).exit_code == 0
    assert replay(app, cookie).status_code == 302
    # Enabling the account again does not bring the old sessions back.
    assert runner.invoke(args=["admin", "enable", "--email", admin.email]).exit_code == 0
    assert replay(app, cookie).status_code == 302
    assert login(admin).status_code == 302
    assert client.get("/dashboard/").status_code == 200


def test_a_session_of_another_admin_is_untouched(app, client, make_admin, login, runner):
    first, second = make_admin(), make_admin()
    login(first)
    cookie = saved_cookie(client)
    assert runner.invoke(args=["admin", "disable", "--email", second.email]).exit_code == 0
    assert replay(app, cookie).status_code == 200
