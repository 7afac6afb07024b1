"""Sending demo events through the real API: bounded threads, retries with the same key.

Each event goes as one POST /api/attendances whose `client_event_id` (also sent as the
Idempotency-Key header) is the generator's deterministic id, so a retry, or a rerun of
the whole load, can never record an event twice. Loopback targets only.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .demo_load import LoadReport
from .services.bulk import Row

PATH = "/api/attendances"
MAX_ATTEMPTS = 5
BACKOFF = 0.2  # seconds before the first retry; doubles each time
MAX_BACKOFF = 5.0
TIMEOUT = 10.0
KEEP_MESSAGES = 5
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Target:
    """A checked loopback server."""

    scheme: str
    host: str
    port: int
    prefix: str


def check_target(url: str) -> Target:
    """Parse a base URL; refuse anything but a loopback address or localhost."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    host = parts.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"{url!r}: only loopback targets (127.0.0.0/8, ::1, localhost)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(parts.scheme, host, port, parts.path.rstrip("/"))


def body(row: Row) -> bytes:
    """The POST body of one event."""
    return json.dumps(
        {
            "user_id": row.user_id,
            "school_id": row.school_id,
            "type": row.type,
            "timestamp": row.timestamp.isoformat(),
            "temperature": float(row.temperature),
            "client_event_id": row.idempotency_key,
        }
    ).encode()


class _Sender:
    """The shared state of one HTTP load: the work queue, the tallies and their lock."""

    def __init__(self, target: Target, tokens: Callable[[int], str | None]) -> None:
        self.target = target
        self.tokens = tokens
        self.work: queue.Queue[Row | None] = queue.Queue(maxsize=1000)
        self.lock = threading.Lock()
        self.report = LoadReport()
        self.done = 0

    def connect(self) -> http.client.HTTPConnection:
        t = self.target
        cls = http.client.HTTPSConnection if t.scheme == "https" else http.client.HTTPConnection
        return cls(t.host, t.port, timeout=TIMEOUT)

    def worker(self) -> None:
        """Send queued events until the sentinel."""
        conn = self.connect()
        try:
            while (row := self.work.get()) is not None:
                conn = self.send(conn, row)
        finally:
            conn.close()

    def send(self, conn: http.client.HTTPConnection, row: Row) -> http.client.HTTPConnection:
        """POST one event, retrying (same key) on connection errors, 429 and 5xx."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": row.idempotency_key or ""}
        token = self.tokens(row.school_id)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = body(row)
        outcome = "no answer"
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                time.sleep(min(MAX_BACKOFF, BACKOFF * 2 ** (attempt - 1)))
            try:
                conn.request("POST", self.target.prefix + PATH, body=payload, headers=headers)
                response = conn.getresponse()
                text = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = self.connect()
                outcome = f"{type(exc).__name__}: {exc}"
                continue
            if response.status in (200, 201):
                self.tally("written" if response.status == 201 else "duplicates")
                return conn
            outcome = f"{response.status} {text[:200].decode(errors='replace')}"
            if response.status < 500 and response.status not in RETRY_STATUSES:
                break  # the request itself is wrong: resending cannot help
        self.tally("errors", f"{row.idempotency_key}: {outcome}")
        return conn

    def tally(self, what: str, message: str | None = None) -> None:
        with self.lock:
            setattr(self.report, what, getattr(self.report, what) + 1)
            self.done += 1
            if message and len(self.report.messages) < KEEP_MESSAGES:
                self.report.messages.append(message)


def post_rows(
    url: str,
    rows: Iterable[Row],
    *,
    tokens: Mapping[int, str] | str | None = None,
    concurrency: int = 8,
    estimate: int | None = None,
    progress: bool = False,
) -> LoadReport:
    """POST every row through the API with `concurrency` threads; returns the tallies.

    `tokens` is one bearer token for everything or a token per school id.
    """
    if not 1 <= concurrency <= 64:
        raise ValueError("concurrency must be between 1 and 64")
    target = check_target(url)
    if isinstance(tokens, Mapping):
        per_school = dict(tokens)

        def token_for(school_id: int) -> str | None:
            return per_school.get(school_id)
    else:

        def token_for(school_id: int) -> str | None:
            return tokens

    sender = _Sender(target, token_for)
    started = time.perf_counter()
    threads = [
        threading.Thread(target=sender.worker, name=f"demo-http-{n}", daemon=True)
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    bar = _progress(sender, estimate, progress)
    try:
        for row in rows:
            sender.work.put(row)
    finally:
        for _ in threads:
            sender.work.put(None)
        for thread in threads:
            thread.join()
        if bar is not None:
            bar.stop()
    sender.report.seconds = time.perf_counter() - started
    return sender.report


class _Bar:
    """A tqdm bar fed from the tallies by a thread of its own."""

    def __init__(self, sender: _Sender, total: int | None) -> None:
        from tqdm import tqdm

        self.sender = sender
        self.bar: Any = tqdm(total=total, unit="ev", dynamic_ncols=True, leave=False)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        shown = 0
        while not self.stopped.wait(0.25):
            done = self.sender.done
            self.bar.update(done - shown)
            self.bar.set_postfix(errors=self.sender.report.errors, refresh=False)
            shown = done
        self.bar.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def _progress(sender: _Sender, total: int | None, enabled: bool) -> _Bar | None:
    return _Bar(sender, total) if enabled else None
