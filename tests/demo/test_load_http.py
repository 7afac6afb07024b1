"""The demo HTTP sender: loopback only, bounded threads, retries with the same key."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from attendance.demo.load_http import check_target, post_rows
from attendance.services.bulk import Row


def row(n: int, school_id: int = 1) -> Row:
    ts = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC) + dt.timedelta(seconds=n)
    return Row(n, school_id, "checkin", ts, Decimal("36.6"), None, ts, f"demo-{n}")


class Fake:
    """A loopback server whose answers a test decides; it records what it was sent."""

    def __init__(self, answer: Callable[[dict, dict, int], int | tuple[int, dict]]) -> None:
        self.answer = answer
        self.seen: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                headers = dict(self.headers)
                with fake.lock:
                    fake.seen.append((body, headers))
                    attempt = sum(1 for b, _ in fake.seen if b == body)
                answer = fake.answer(body, headers, attempt)
                status, extra = answer if isinstance(answer, tuple) else (answer, {})
                payload = b'{"errors": {"detail": "no"}}' if status >= 400 else b'{"data": {}}'
                if "json" in extra:
                    payload = json.dumps(extra.pop("json")).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"


@pytest.fixture
def fake() -> Iterator[Callable[..., Fake]]:
    servers: list[Fake] = []

    def start(answer: Callable[[dict, dict, int], int]) -> Fake:
        server = Fake(answer)
        threading.Thread(target=server.httpd.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_every_row_is_sent_with_its_key_and_token(fake):
    server = fake(lambda body, headers, attempt: 201)
    report = post_rows(server.url, [row(n, 1 + n % 2) for n in range(50)], tokens={1: "a", 2: "b"})
    assert (report.written, report.duplicates, report.errors) == (50, 0, 0)
    for body, headers in server.seen:
        assert headers["Idempotency-Key"] == body["client_event_id"] == f"demo-{body['user_id']}"
        assert headers["Authorization"] == f"Bearer {'ab'[body['school_id'] - 1]}"
        assert body["timestamp"].endswith("+00:00") and body["temperature"] == 36.6


def test_retries_resend_the_same_key(fake):
    server = fake(lambda body, headers, attempt: 503 if attempt == 1 else 201)
    report = post_rows(server.url, [row(n) for n in range(5)], concurrency=2)
    assert (report.written, report.errors) == (5, 0)
    keys = Counter(headers["Idempotency-Key"] for _, headers in server.seen)
    assert keys == {f"demo-{n}": 2 for n in range(5)}


def test_client_errors_are_not_retried_and_are_reported(fake):
    server = fake(lambda body, headers, attempt: 422 if body["user_id"] == 3 else 200)
    report = post_rows(server.url, [row(n) for n in range(6)])
    assert (report.written, report.duplicates, report.errors) == (0, 5, 1)
    assert len(server.seen) == 6
    assert report.messages == ['demo-3: 422 {"errors": {"detail": "no"}}']


def test_a_server_that_keeps_failing_gives_up(fake, monkeypatch):
    monkeypatch.setattr("attendance.demo.load_http.BACKOFF", 0.001)
    server = fake(lambda body, headers, attempt: 500)
    report = post_rows(server.url, [row(1)])
    assert report.errors == 1 and len(server.seen) == 5


def test_a_dead_server_is_an_error_not_a_hang(monkeypatch):
    monkeypatch.setattr("attendance.demo.load_http.BACKOFF", 0.001)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    report = post_rows(f"http://127.0.0.1:{port}", [row(1), row(2)])
    assert report.errors == 2 and "ConnectionRefusedError" in report.messages[0]


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:5000", "http://example.com", "ftp://127.0.0.1", "http://[::2]:80"]
)
def test_only_loopback_targets(url):
    with pytest.raises(ValueError):
        check_target(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5000", "http://localhost", "http://[::1]:8000/x"]
)
def test_loopback_targets(url):
    assert check_target(url).host in ("127.0.0.1", "localhost", "::1")


def test_concurrency_is_bounded():
    with pytest.raises(ValueError):
        post_rows("http://127.0.0.1:1", [], concurrency=0)
    with pytest.raises(ValueError):
        post_rows("http://127.0.0.1:1", [], concurrency=1000)


def test_a_rate_limit_is_waited_out_not_counted(fake):
    def answer(body, headers, attempt):
        return (429, {"Retry-After": "0.05"}) if attempt <= 3 else 201

    server = fake(answer)
    report = post_rows(server.url, [row(1), row(2)], concurrency=1)
    assert (report.written, report.errors) == (2, 0)
    assert len(server.seen) == 8


def test_bulk_batches_one_school_at_a_time(fake):
    def answer(body, headers, attempt):
        items = body["attendances"]
        results = [
            {"index": i, "status": "invalid", "errors": {"user_id": ["no"]}}
            if item["user_id"] == 7
            else {"index": i, "status": "created", "id": item["user_id"]}
            for i, item in enumerate(items)
        ]
        counts = {s: sum(r["status"] == s for r in results) for s in ("created", "invalid")}
        return 200, {"json": {"data": {**counts, "duplicate": 0, "results": results}}}

    server = fake(answer)
    rows = [row(n, 1) for n in range(10)] + [row(n, 2) for n in range(10, 13)]
    report = post_rows(server.url, rows, tokens={1: "a", 2: "b"}, bulk=4, concurrency=2)
    assert (report.written, report.errors) == (12, 1)
    assert report.messages == ["demo-7: {'user_id': ['no']}"]
    sizes = sorted((len(b["attendances"]), h["Authorization"]) for b, h in server.seen)
    assert sizes == [(2, "Bearer a"), (3, "Bearer b"), (4, "Bearer a"), (4, "Bearer a")]
    assert all(
        {i["school_id"] for i in b["attendances"]} == {1 if h["Authorization"] == "Bearer a" else 2}
        for b, h in server.seen
    )
