"""Log lines: one JSON object per request and per job, tied by the request id, no secrets."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from attendance.ops import logs

from .conftest import json_lines

TOKEN = "tok_live_4f8a9b2c1d3e"  # noqa: S105 - a fake credential that must never be logged
PHOTO = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


@pytest.fixture
def json_app(db, make_app):
    return make_app(LOG_FORMAT="json", LOG_LEVEL="INFO")


def request_lines(text: str) -> list[dict]:
    return [line for line in json_lines(text) if line.get("event") == "request"]


def ids(db, row, *names):
    """Read a row's ids, then end the session's transaction (SQLite locks the file for it)."""
    values = tuple(getattr(row, name) for name in names)
    db.session.rollback()
    return values


def test_one_json_line_per_request(db, json_app, make_school, make_token, capsys):
    (school_id,) = ids(db, make_school(), "id")
    token = make_token("district")
    db.session.rollback()
    capsys.readouterr()
    resp = json_app.test_client().get(
        f"/api/schools/{school_id}?token={TOKEN}",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Request-ID": "req-42.abc",
            "User-Agent": "gate-device/1.2",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["X-Request-ID"] == "req-42.abc"
    err = capsys.readouterr().err
    [line] = request_lines(err)
    assert line["method"] == "GET"
    assert line["route"] == "/api/schools/<int:school_id>"
    assert line["path"] == f"/api/schools/{school_id}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["request_id"] == "req-42.abc"
    assert line["remote_addr"] == "127.0.0.1"
    assert line["user_agent"] == "gate-device/1.2"
    assert line["level"] == "info" and line["logger"] == "attendance.request"
    assert TOKEN not in err and token not in err


@pytest.mark.parametrize("given", ["x" * 65, "has space", 'quote"d', "", "ünïcode"])
def test_unsafe_request_ids_are_replaced(json_app, capsys, given):
    resp = json_app.test_client().get("/healthz", headers={"X-Request-ID": given})
    rid = resp.headers["X-Request-ID"]
    assert rid != given and len(rid) == 32 and rid.isalnum()


def test_unmatched_routes_share_one_label(json_app, capsys):
    capsys.readouterr()
    json_app.test_client().get("/no/such/page/12345")
    [line] = request_lines(capsys.readouterr().err)
    assert line["status"] == 404 and line["route"] == "<unmatched>"


def test_probes_are_logged_only_at_debug(db, make_app, capsys):
    app = make_app(LOG_LEVEL="INFO")
    capsys.readouterr()
    app.test_client().get("/healthz")
    assert request_lines(capsys.readouterr().err) == []
    app = make_app(LOG_LEVEL="DEBUG")
    app.test_client().get("/healthz")
    assert [line["path"] for line in request_lines(capsys.readouterr().err)] == ["/healthz"]


def test_a_photo_in_a_refused_request_is_not_logged(db, json_app, make_user, make_token, capsys):
    user_id, school_id = ids(db, make_user(), "id", "school_id")
    token = make_token("district")
    db.session.rollback()
    capsys.readouterr()
    resp = json_app.test_client().post(
        "/api/attendances",
        json={"user_id": user_id, "school_id": school_id, "type": "checkin",
              "temperature": 99, "image": PHOTO},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert resp.status_code == 422
    err = capsys.readouterr().err
    assert request_lines(err)[0]["status"] == 422
    assert "iVBOR" not in err and token not in err


def test_the_request_id_reaches_the_jobs(db, json_app, make_user, make_event, make_token, capsys):
    import datetime as dt

    user = make_user()
    for day in range(2, 5):  # a date without events would need no chunk job
        make_event(user=user, timestamp=dt.datetime(2026, 11, day, 8, tzinfo=dt.UTC))
    (school_id,) = ids(db, user, "school_id")
    token = make_token("district")
    db.session.rollback()
    capsys.readouterr()
    resp = json_app.test_client().get(
        f"/api/attendances/aggregate/school/{school_id}",
        query_string={"from": "2026-11-02", "to": "2026-11-04"},
        headers={"X-Request-ID": "trace-me-1", "Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200
    report_id = resp.get_json()["data"]["report_id"]
    lines = json_lines(capsys.readouterr().err)
    jobs = [line for line in lines if line.get("event") == "job"]
    assert [j["function"] for j in jobs] == ["plan_report"] + ["compute_day"] * 3 + [
        "finalize_report"
    ]
    for job in jobs:
        assert job["request_id"] == "trace-me-1"
        assert job["report_id"] == report_id
        assert job["status"] == "ok" and job["job_id"].startswith(f"report-{report_id}")
        assert job["duration_ms"] >= 0
    assert request_lines("\n".join(json.dumps(x) for x in lines))[0]["request_id"] == "trace-me-1"


def record(msg: str, *args, exc: bool = False, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("attendance.test", logging.ERROR, __file__, 1, msg, args, None)
    if exc:
        try:
            raise ValueError(f"boom with Bearer {TOKEN} and {PHOTO}")
        except ValueError:
            rec.exc_info = sys.exc_info()
    rec.__dict__.update(extra)
    return rec


def test_the_formatter_scrubs_secrets():
    line = logs.JsonFormatter().format(
        record(
            "connecting to %s with Authorization: Bearer %s",
            "postgresql://app:hunter2@db.internal/attendance",
            TOKEN,
            exc=True,
            password="hunter2",
            authorization=f"Bearer {TOKEN}",
            image=PHOTO,
            note=f"query ?token={TOKEN}",
        )
    )
    parsed = json.loads(line)
    assert "hunter2" not in line and TOKEN not in line and "iVBOR" not in line
    assert parsed["password"] == "[redacted]" and parsed["image"] == "[redacted]"
    assert "postgresql://app:[redacted]@db.internal/attendance" in parsed["message"]
    assert "ValueError" in parsed["exc"]


def test_text_format(db, make_app, capsys):
    app = make_app(LOG_FORMAT="text")
    capsys.readouterr()
    app.test_client().get("/nowhere", headers={"X-Request-ID": "plain-1"})
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "attendance.request" in x)
    assert "GET /nowhere 404" in line and "request_id=plain-1" in line


def test_an_unknown_format_is_refused(make_app):
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        make_app(LOG_FORMAT="xml")


def test_a_crash_is_logged_once_with_its_request_id(db, make_app, capsys):
    app = make_app(LOG_FORMAT="json", PROPAGATE_EXCEPTIONS=False)

    @app.route("/crash")
    def crash():
        raise RuntimeError(f"failed talking to postgresql://app:hunter2@db/x as Bearer {TOKEN}")

    capsys.readouterr()
    resp = app.test_client().get("/crash", headers={"X-Request-ID": "crash-1"})
    assert resp.status_code == 500 and resp.headers["X-Request-ID"] == "crash-1"
    err = capsys.readouterr().err
    lines = json_lines(err)
    [error] = [x for x in lines if x["level"] == "error"]
    assert error["request_id"] == "crash-1" and "RuntimeError" in error["exc"]
    [line] = request_lines(err)
    assert line["status"] == 500 and line["route"] == "/crash"
    assert "hunter2" not in err and TOKEN not in err


def test_no_terminal_colours_in_log_lines():
    """werkzeug paints its request lines; no line carries the escape codes, JSON least of all."""
    rec = record('127.0.0.1 - - "%s" %s -', "\x1b[33mGET /nowhere HTTP/1.1\x1b[0m", "404")
    line = logs.JsonFormatter().format(rec)
    assert "\x1b" not in line and "\\u001b" not in line
    assert json.loads(line)["message"] == '127.0.0.1 - - "GET /nowhere HTTP/1.1" 404 -'
    assert "\x1b" not in logs.TextFormatter().format(rec)


def serve_once(app, monkeypatch, path: str = "/nowhere"):
    """`flask serve` answering one real request through werkzeug's server; its stderr."""
    import threading

    import httpx
    from werkzeug.serving import make_server

    from attendance import cli

    def run_simple(host, port, application, **kwargs):
        server = make_server("127.0.0.1", 0, application)
        thread = threading.Thread(target=server.handle_request)
        thread.start()
        httpx.get(f"http://127.0.0.1:{server.server_port}{path}")
        thread.join()
        server.server_close()

    monkeypatch.setattr(cli, "run_simple", run_simple)
    with app.app_context():  # this app's, not the session's that the db fixture pushed
        result = app.test_cli_runner().invoke(args=["serve"])
    assert result.exit_code == 0, result.output
    return result.stderr


def test_the_development_server_logs_plain_text(db, make_app, monkeypatch):
    err = serve_once(make_app(), monkeypatch)
    [line] = [x for x in err.splitlines() if '"GET /nowhere HTTP/1.1" 404' in x]
    assert " INFO werkzeug: " in line
    assert "\x1b" not in err and not any(x.startswith("{") for x in err.splitlines())


def test_log_format_still_decides_under_the_development_server(db, make_app, monkeypatch):
    err = serve_once(make_app(LOG_FORMAT="json"), monkeypatch)
    lines = json_lines(err)
    [served] = [x for x in lines if x["logger"] == "werkzeug"]
    assert served["message"].endswith('"GET /nowhere HTTP/1.1" 404 -')
    assert "\x1b" not in err and "\\u001b" not in err
    assert request_lines(err)[0]["status"] == 404


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "text"),
        ({"LOG_FORMAT": "json"}, "json"),
        ({"ATTENDANCE_ENV": "production", "SECRET_KEY": "s" * 40}, "json"),
    ],
)
def test_serve_and_its_workers_share_one_format(make_app, monkeypatch, overrides, expected):
    """Text for the development server in development, unless LOG_FORMAT or production."""
    from attendance import cli
    from attendance.ops import procs

    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", **overrides)
    assert app.config["LOG_FORMAT"] == overrides.get("LOG_FORMAT")
    assert logs.log_format(app) == "json"  # everything but `flask serve`: gunicorn, workers
    started = []

    class Children:
        def __init__(self, count, grace, env):
            started.append(env)

        def start(self):
            pass

        def stop(self):
            pass

    monkeypatch.setattr(procs, "Children", Children)
    monkeypatch.setattr(cli, "run_simple", lambda *args, **kwargs: None)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["serve", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert started == [{"LOG_FORMAT": expected}]
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h, logs.StderrHandler)]
    formatter = logs.TextFormatter if expected == "text" else logs.JsonFormatter
    assert type(handler.formatter) is formatter
