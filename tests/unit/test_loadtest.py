"""Tests for tools/loadtest.py, including short real runs against a local server."""

from __future__ import annotations

import importlib.util
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load() -> ModuleType:
    """Import tools/loadtest.py (a script, not a package module)."""
    path = Path(__file__).resolve().parents[2] / "tools" / "loadtest.py"
    spec = importlib.util.spec_from_file_location("loadtest", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["loadtest"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


lt = _load()


# Percentiles


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert lt.percentile(values, 50) == 50
    assert lt.percentile(values, 95) == 95
    assert lt.percentile(values, 99) == 99
    assert lt.percentile(values, 100) == 100
    assert lt.percentile(values, 0) == 1
    assert lt.percentile(values, 99.5) == 100
    assert lt.percentile([float(v) for v in range(1, 1001)], 99.9) == 999


def test_percentile_small_and_empty() -> None:
    assert lt.percentile([], 50) is None
    assert lt.percentile([7.0], 50) == 7.0
    assert lt.percentile([7.0], 99) == 7.0
    assert lt.percentile([1.0, 2.0], 50) == 1.0
    assert lt.percentile([1.0, 2.0], 51) == 2.0
    assert lt.percentile([1.0, 2.0, 3.0, 4.0], 75) == 3.0
    with pytest.raises(ValueError):
        lt.percentile([1.0], 101)
    with pytest.raises(ValueError):
        lt.percentile([1.0], -1)


def test_latency_summary_in_milliseconds() -> None:
    seconds = [i / 1000 for i in range(100, 0, -1)]  # 1..100 ms, unsorted
    summary = lt.latency_summary(seconds)
    assert summary == {
        "p50": 50.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
        "mean": 50.5,
    }
    assert lt.latency_summary([]) == dict.fromkeys(["p50", "p95", "p99", "max", "mean"])


def test_parse_user_ids() -> None:
    assert lt.parse_user_ids("1-5") == [1, 2, 3, 4, 5]
    assert lt.parse_user_ids("3, 7-8,10") == [3, 7, 8, 10]
    assert len(lt.parse_user_ids("1-2000")) == 2000
    for bad in ["", "0-3", "5-1", "a-b", "1-", "-3"]:
        with pytest.raises(ValueError):
            lt.parse_user_ids(bad)


# Loopback only


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.1",
        "http://127.9.8.7:5000/",
        "http://[::1]:8000",
        "https://127.0.0.1:8443",
        "http://localhost:8000",
    ],
)
def test_loopback_targets_are_accepted(url: str) -> None:
    target = lt.check_target(url)
    assert target.path.endswith("/api/attendances")


def test_base_path_is_kept() -> None:
    target = lt.check_target("http://127.0.0.1:8000/prefix/")
    assert (target.host, target.port, target.path) == (
        "127.0.0.1",
        8000,
        "/prefix/api/attendances",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8000",
        "http://192.168.1.10",
        "http://0.0.0.0:8000",
        "http://8.8.8.8",
        "http://[::ffff:8.8.8.8]",
        "http://[2001:db8::1]:80",
        "http://example.com",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "ftp://127.0.0.1",
        "127.0.0.1:8000",
        "http://:8000",
        "http://127.0.0.1:99999",
    ],
)
def test_other_targets_are_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a refused target must not be contacted")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(lt.TargetRefused):
        lt.check_target(url)
    with pytest.raises(lt.TargetRefused):
        lt.run(lt.LoadConfig(url=url, duration=0.1))


def test_localhost_must_resolve_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(lt.TargetRefused, match="loopback"):
        lt.check_target("http://localhost:8000")


def test_cli_refuses_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert lt.main(["--url", "http://93.184.216.34", "--duration", "0.1"]) == 2
    assert "loopback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "changes",
    [
        {"duration": 0},
        {"duration": 100_000},
        {"concurrency": 0},
        {"concurrency": 10_000},
        {"rate": 0},
        {"requests": 0},
        {"timeout": 0},
        {"user_ids": ()},
    ],
)
def test_bad_settings_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        lt.run(lt.LoadConfig(**changes))


# Real runs against a tiny local server


@dataclass
class Recorder:
    """What the test server saw, and how it should answer."""

    status: int = 201
    delay: float = 0.0
    hang_up: bool = False  # close each connection after answering, without saying so
    lock: threading.Lock = field(default_factory=threading.Lock)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    clients: set[tuple[str, int]] = field(default_factory=set)


class QuietServer(ThreadingHTTPServer):
    """A test server that does not print a client hanging up on it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out close their end: expected here."""


@contextmanager
def server(recorder: Recorder, protocol: str = "HTTP/1.1") -> Iterator[str]:
    """A ThreadingHTTPServer on 127.0.0.1:<free port>; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = protocol
        disable_nagle_algorithm = True  # else delayed ACKs add 40 ms per answer

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with recorder.lock:
                recorder.bodies.append(json.loads(body))
                recorder.headers.append(dict(self.headers))
                recorder.clients.add(self.client_address[:2])
            if recorder.delay:
                time.sleep(recorder.delay)
            answer = json.dumps({"data": {"id": len(recorder.bodies)}}).encode()
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            self.close_connection = recorder.hang_up

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def timed_run(**settings: Any) -> tuple[Any, float]:
    """Run the load test; return its summary and the wall time it took."""
    started = time.perf_counter()
    summary = lt.run(lt.LoadConfig(**settings))
    return summary, time.perf_counter() - started


def test_closed_loop_sends_exactly_the_requested_number() -> None:
    recorder = Recorder()
    with server(recorder) as url:
        summary, elapsed = timed_run(
            url=url,
            token="t0k",
            school_id=3,
            user_ids=list(range(1, 51)),
            concurrency=4,
            requests=300,
            duration=10,
        )
    assert summary.requests == 300 == len(recorder.bodies)
    assert summary.status_counts == {"201": 300}
    assert summary.ok and summary.errors == {
        "connection": 0,
        "timeout": 0,
        "http_5xx": 0,
    }
    assert summary.mode == "closed" and summary.concurrency == 4
    assert summary.seconds <= elapsed < 10
    assert 0 < summary.latency_ms["p50"] <= summary.latency_ms["p99"]
    assert summary.latency_ms["p99"] <= summary.latency_ms["max"]

    keys = [h["Idempotency-Key"] for h in recorder.headers]
    assert len(set(keys)) == 300
    assert all(h["Authorization"] == "Bearer t0k" for h in recorder.headers)
    assert all(h["Content-Type"] == "application/json" for h in recorder.headers)
    assert {b["type"] for b in recorder.bodies} == {"checkin"}
    assert {b["school_id"] for b in recorder.bodies} == {3}
    assert {b["user_id"] for b in recorder.bodies} == set(range(1, 51))
    assert all(28 <= b["temperature"] <= 43 for b in recorder.bodies)
    assert len(recorder.clients) <= 4  # persistent connections, one per worker


def test_closed_loop_stops_at_its_duration() -> None:
    recorder = Recorder(delay=0.01)
    with server(recorder) as url:
        summary, elapsed = timed_run(url=url, concurrency=3, duration=0.5)
    assert 0.5 <= elapsed < 1.5
    assert 10 <= summary.requests == len(recorder.bodies)
    assert summary.ok


def test_open_loop_keeps_its_rate() -> None:
    recorder = Recorder()
    with server(recorder) as url:
        summary, elapsed = timed_run(url=url, rate=100, duration=1.0, concurrency=4)
    assert summary.mode == "open" and summary.rate == 100
    assert 80 <= summary.requests <= 100  # a loaded CI machine may fall behind a little
    assert summary.requests + summary.dropped == 100
    assert 0.9 <= elapsed < 2.0


def test_open_loop_counts_what_a_slow_server_made_it_drop() -> None:
    recorder = Recorder(delay=0.1)
    with server(recorder) as url:
        summary, elapsed = timed_run(url=url, rate=200, duration=0.5, concurrency=2)
    assert summary.dropped > 50  # 2 connections x 10 req/s cannot carry 200 req/s
    assert summary.requests + summary.dropped == 100
    assert summary.latency_ms["max"] > 100  # queueing is counted, not hidden
    assert elapsed < 1.5


def test_requests_bound_applies_to_open_loop() -> None:
    recorder = Recorder()
    with server(recorder) as url:
        summary, _ = timed_run(url=url, rate=500, duration=5, requests=20)
    assert summary.requests == 20 == len(recorder.bodies)


def test_server_closing_connections_is_not_an_error() -> None:
    recorder = Recorder()
    with server(recorder, protocol="HTTP/1.0") as url:
        summary, _ = timed_run(url=url, concurrency=2, requests=50)
    assert summary.ok and summary.status_counts == {"201": 50}


def test_a_connection_closed_while_idle_is_retried_once() -> None:
    recorder = Recorder(hang_up=True)
    with server(recorder) as url:
        summary, _ = timed_run(url=url, concurrency=1, requests=20)
    assert summary.ok and summary.status_counts == {"201": 20}
    assert len(recorder.bodies) == 20 and len(recorder.clients) == 20
    keys = [h["Idempotency-Key"] for h in recorder.headers]
    assert len(set(keys)) == 20


def test_5xx_answers_fail_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder(status=503)
    with server(recorder) as url:
        out = io.StringIO()
        status = lt.main(["--url", url, "--requests", "10", "--json"], out=out)
    assert status == 1
    report = json.loads(out.getvalue())
    assert report["requests"] == 10
    assert report["status_counts"] == {"503": 10}
    assert report["errors"]["http_5xx"] == 10
    assert report["ok"] is False
    assert set(report) >= {"seconds", "rps", "latency_ms", "errors", "dropped"}


def test_cli_json_and_text_reports() -> None:
    recorder = Recorder()
    with server(recorder) as url:
        out = io.StringIO()
        argv = ["--url", url, "--requests", "40", "--user-ids", "1-5", "--json"]
        assert lt.main(argv, out=out) == 0
        report = json.loads(out.getvalue())
        text = io.StringIO()
        assert lt.main(["--url", url, "--requests", "5"], out=text) == 0
    assert report["requests"] == 40 and report["status_counts"] == {"201": 40}
    assert set(report["latency_ms"]) == {"p50", "p95", "p99", "max", "mean"}
    assert "req/s" in text.getvalue() and "201: 5" in text.getvalue()


def test_connection_errors_are_counted_and_bounded() -> None:
    with socket.socket() as probe:  # find a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    summary, elapsed = timed_run(url=f"http://127.0.0.1:{port}", duration=0.3)
    assert summary.errors["connection"] > 0
    assert summary.status_counts == {} and not summary.ok
    assert elapsed < 1.3


def test_timeouts_are_counted_and_bounded() -> None:
    recorder = Recorder(delay=1.0)
    with server(recorder) as url:
        summary, elapsed = timed_run(url=url, concurrency=2, duration=0.3, timeout=0.2)
    assert summary.errors["timeout"] >= 2 and not summary.ok
    assert elapsed < 1.5
