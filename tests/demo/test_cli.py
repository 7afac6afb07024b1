"""`flask demo --big`: both modes (database, HTTP API), summaries, reruns."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from attendance.models import Attendance, School, User
from attendance.security.models import ApiToken

ARGS = [
    "demo",
    "--big",
    "--schools",
    "2",
    "--users",
    "15",
    "--from",
    "2026-11-02",
    "--to",
    "2026-11-13",
]
SUMMARY = re.compile(
    r"demo-data: (\d+) events written \((\d+) already there\) in [\d.]+ s = \d+ events/s, "
    r"(\d+) errors"
)


def summary(output: str) -> tuple[int, int, int]:
    match = SUMMARY.search(output)
    assert match, output
    written, duplicates, errors = map(int, match.groups())
    return written, duplicates, errors


def rows(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Attendance))


@pytest.fixture
def server(app, db) -> Iterator[str]:
    """The app served over HTTP on a loopback port, in a thread."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()


def test_db_mode_prints_a_summary_and_reruns_add_nothing(runner, db):
    result = runner.invoke(args=ARGS)
    assert result.exit_code == 0, result.output
    assert "2 schools" in result.output
    written, duplicates, errors = summary(result.output)
    assert written > 100 and (duplicates, errors) == (0, 0)
    assert rows(db) == written
    again = runner.invoke(args=ARGS)
    assert again.exit_code == 0, again.output
    assert summary(again.output) == (0, written, 0)
    assert rows(db) == written
    assert db.session.scalar(select(func.count()).select_from(User)) == 30


def test_http_mode_goes_through_the_api(runner, db, server):
    args = [*ARGS, "--users", "5"]
    via_http = runner.invoke(args=[*args, "--mode", "http", "--url", server, "--concurrency", "4"])
    assert via_http.exit_code == 0, via_http.output
    written, duplicates, errors = summary(via_http.output)
    assert written > 100 and (duplicates, errors) == (0, 0)
    assert rows(db) == written
    # The same seed in db mode finds every event already there: the keys are the same.
    assert summary(runner.invoke(args=args).output) == (0, written, 0)
    # And a rerun over HTTP is all duplicates (200s), one event at a time or in batches.
    again = runner.invoke(args=[*args, "--mode", "http", "--url", server])
    assert summary(again.output) == (0, written, 0)
    bulk = runner.invoke(args=[*args, "--mode", "http", "--url", server, "--bulk", "50"])
    assert summary(bulk.output) == (0, written, 0)
    # Each run minted a device token per school, and revoked them when done.
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.name.like("demo-data%"))).all()
    assert len(tokens) == 3 * 2 and all(t.role == "device" and t.revoked_at for t in tokens)


def test_http_bulk_mode(runner, db, server):
    args = [*ARGS, "--users", "5", "--mode", "http", "--url", server, "--bulk", "100"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    written, duplicates, errors = summary(result.output)
    assert written > 100 and (duplicates, errors) == (0, 0)
    assert rows(db) == written


def test_http_errors_are_counted_and_fail_the_command(runner, db, tmp_path):
    from tests.demo.test_load_http import Fake

    refusing = Fake(lambda body, headers, attempt: 401)
    threading.Thread(target=refusing.httpd.serve_forever, daemon=True).start()
    token = tmp_path / "token"
    token.write_text("att_example\n")
    try:
        args = [*ARGS, "--users", "2", "--mode", "http", "--url", refusing.url]
        args += ["--token-file", str(token)]
        result = runner.invoke(args=args)
    finally:
        refusing.httpd.shutdown()
        refusing.httpd.server_close()
    assert result.exit_code == 1
    written, _, errors = summary(result.output)
    assert written == 0 and errors == len(refusing.seen) > 0
    assert all(h["Authorization"] == "Bearer att_example" for _, h in refusing.seen)
    assert "401" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--timezones", "Mars/Olympus"], "Mars/Olympus"),
        (["--from", "2026-11-20"], "end date"),
        (["--mode", "http", "--url", "http://192.0.2.1:5000"], "loopback"),
        (["--users", "0"], "users"),
        (["--mode", "http", "--bulk", "5001"], "--bulk"),
    ],
)
def test_bad_options_are_usage_errors(runner, db, extra, message):
    result = runner.invoke(args=[*ARGS, *extra])
    assert result.exit_code == 2
    assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(School)) == 0


def test_if_empty_leaves_a_used_database_alone(runner, make_school, db):
    make_school()
    result = runner.invoke(args=[*ARGS, "--if-empty"])
    assert result.exit_code == 0 and "nothing done" in result.output
    assert rows(db) == 0
