"""Production mode: clean errors, no debugger, security headers, secure cookies."""

from __future__ import annotations

import pytest

from attendance import create_app

from .conftest import PRODUCTION_KEY

LEAKS = ("Traceback", "RuntimeError", "SELECT", "password", PRODUCTION_KEY, 'File "')


def assert_clean(resp) -> None:
    body = resp.get_data(as_text=True)
    for leak in LEAKS:
        assert leak not in body, (leak, body)


@pytest.fixture
def prod_client(production_app, make_token):
    client = production_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_token('district')}"
    return client


def test_production_app_has_no_debugger(production_app):
    assert production_app.debug is False
    assert production_app.config["PROPAGATE_EXCEPTIONS"] is False


def test_production_refuses_flask_debug(app_config, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(RuntimeError, match="FLASK_DEBUG"):
        create_app({**app_config, "ATTENDANCE_ENV": "production", "SECRET_KEY": PRODUCTION_KEY})


def test_api_500_is_clean_json(prod_client):
    resp = prod_client.get("/api/test-boom")
    assert resp.status_code == 500
    assert resp.json == {"errors": {"detail": "Internal Server Error"}}
    assert_clean(resp)


def test_page_500_is_clean_html(prod_client):
    resp = prod_client.get("/test-boom")
    assert resp.status_code == 500
    assert resp.mimetype == "text/html"
    assert "500" in resp.get_data(as_text=True)
    assert_clean(resp)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/api/nothing-here", {}, 404),
        ("post", "/api/schools/1", {"json": {}}, 405),
        (
            "post",
            "/api/schools",
            {"data": "x" * (3 * 1024 * 1024), "content_type": "application/json"},
            413,
        ),
        ("post", "/api/schools", {"json": {"name": ""}}, 422),
        ("post", "/api/schools", {"data": "{bad", "content_type": "application/json"}, 400),
    ],
)
def test_api_errors_are_clean_json(prod_client, method, path, kwargs, status):
    resp = getattr(prod_client, method)(path, **kwargs)
    assert resp.status_code == status
    assert resp.mimetype == "application/json"
    assert set(resp.json) == {"errors"}
    assert_clean(resp)


@pytest.mark.parametrize(
    ("method", "path", "status"), [("get", "/no-such-page", 404), ("post", "/test-boom", 405)]
)
def test_page_errors_are_clean_html(prod_client, method, path, status):
    resp = getattr(prod_client, method)(path)
    assert resp.status_code == status
    assert resp.mimetype == "text/html"
    assert_clean(resp)


def test_page_413_is_clean_html(prod_client):
    resp = prod_client.post("/test-boom", data="x" * (3 * 1024 * 1024))
    assert resp.status_code in (405, 413)
    assert resp.mimetype == "text/html"
    assert_clean(resp)


def test_security_headers_on_api_and_pages(prod_client, production_app):
    plain = "http://localhost"  # the production test client would default to https
    for resp in (
        prod_client.get("/api/schools", base_url=plain),
        prod_client.get("/api/nothing-here", base_url=plain),
        prod_client.get("/test-boom", base_url=plain),
        prod_client.get("/api/openapi.json", base_url=plain),
        production_app.test_client().get("/api/schools", base_url=plain),
    ):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert "Strict-Transport-Security" not in resp.headers  # plain HTTP


def test_api_csp_forbids_everything_and_pages_allow_own_scripts(prod_client):
    api = prod_client.get("/api/schools").headers["Content-Security-Policy"]
    assert api.startswith("default-src 'none'")
    page = prod_client.get("/test-boom").headers["Content-Security-Policy"]
    assert "default-src 'self'" in page and "script-src 'self'" in page
    assert "unsafe-eval" not in page
    assert "script-src 'self' 'unsafe-inline'" not in page


def test_csp_nonce_is_added_when_a_page_uses_it(production_app):
    from flask import render_template_string

    @production_app.get("/test-nonce")
    def with_nonce():
        return render_template_string("<script nonce='{{ csp_nonce() }}'>1</script>")

    resp = production_app.test_client().get("/test-nonce")
    nonce = resp.get_data(as_text=True).split("'")[1]
    assert len(nonce) >= 16
    assert f"script-src 'self' 'nonce-{nonce}'" in resp.headers["Content-Security-Policy"]


def test_hsts_over_tls(prod_client):
    resp = prod_client.get("/api/schools", base_url="https://attendance.example")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_hsts_behind_a_trusted_proxy_only(make_app, make_token, db):
    headers = {"X-Forwarded-Proto": "https", "Authorization": f"Bearer {make_token()}"}
    db.session.commit()  # hold no SQLite lock while the other apps answer
    untrusted = make_app(ATTENDANCE_ENV="production", SECRET_KEY=PRODUCTION_KEY)
    resp = untrusted.test_client().get("/api/schools", headers=headers, base_url="http://x")
    assert "Strict-Transport-Security" not in resp.headers
    proxied = make_app(ATTENDANCE_ENV="production", SECRET_KEY=PRODUCTION_KEY, PROXY_COUNT=1)
    resp = proxied.test_client().get("/api/schools", headers=headers, base_url="http://x")
    assert resp.status_code == 200
    assert "Strict-Transport-Security" in resp.headers


def test_secure_session_cookies_in_production(production_app, app):
    assert production_app.config["SESSION_COOKIE_SECURE"] is True
    assert production_app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert production_app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_production_needs_a_real_secret_key(app_config):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({**app_config, "ATTENDANCE_ENV": "production", "SECRET_KEY": "short"})
