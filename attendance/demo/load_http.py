"""The demo's HTTP loader: the store's rows through the real API, retried with the same key.

Each event goes as one POST /api/attendances whose `client_event_id` (also sent as the
Idempotency-Key header) is the generator's deterministic id, or in batches to POST
/api/attendances/bulk, so a retry, or a rerun of the whole load, can never record an
event twice. A 429 is waited out as its Retry-After says. Loopback targets only.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..services.bulk import Row
from .store import LoadReport, progress_bar

PATH = "/api/attendances"
BULK_PATH = "/api/attendances/bulk"
MAX_BATCH = 5000
MAX_ATTEMPTS = 5
BACKOFF = 0.2  # seconds before the first retry; doubles each time
MAX_BACKOFF = 5.0
MAX_RATE_WAITS = 30  # 429 answers honoured (waiting Retry-After) per request
MAX_RETRY_AFTER = 60.0
TIMEOUT = 30.0
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


def item(row: Row) -> dict[str, Any]:
    """One event as the API takes it."""
    return {
        "user_id": row.user_id,
        "school_id": row.school_id,
        "type": row.type,
        "timestamp": row.timestamp.isoformat(),
        "temperature": float(row.temperature),
        "client_event_id": row.idempotency_key,
    }


def batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """Consecutive rows of one school, at most `size` at a time (one token per request)."""
    batch: list[Row] = []
    for row in rows:
        if batch and (len(batch) >= size or row.school_id != batch[0].school_id):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


class _Sender:
    """The shared state of one HTTP load: the work queue, the tallies and their lock."""

    def __init__(self, target: Target, tokens: Callable[[int], str | None], bulk: bool) -> None:
        self.target = target
        self.tokens = tokens
        self.bulk = bulk
        self.work: queue.Queue[list[Row] | None] = queue.Queue(maxsize=64)
        self.lock = threading.Lock()
        self.report = LoadReport()
        self.done = 0

    def connect(self) -> http.client.HTTPConnection:
        t = self.target
        cls = http.client.HTTPSConnection if t.scheme == "https" else http.client.HTTPConnection
        return cls(t.host, t.port, timeout=TIMEOUT)

    def worker(self) -> None:
        """Send queued work until the sentinel."""
        conn = self.connect()
        try:
            while (rows := self.work.get()) is not None:
                conn = self.send(conn, rows)
        finally:
            conn.close()

    def send(self, conn: http.client.HTTPConnection, rows: list[Row]) -> http.client.HTTPConnection:
        """POST one event (or one bulk batch), resending the same keys on connection
        errors and 5xx, and after the wait a 429 asks for."""
        headers = {"Content-Type": "application/json"}
        if token := self.tokens(rows[0].school_id):
            headers["Authorization"] = f"Bearer {token}"
        if self.bulk:
            path, payload = BULK_PATH, json.dumps({"attendances": [item(r) for r in rows]})
        else:
            path, payload = PATH, json.dumps(item(rows[0]))
            headers["Idempotency-Key"] = rows[0].idempotency_key or ""
        outcome, attempt, rate_waits = "no answer", 0, 0
        while attempt < MAX_ATTEMPTS:
            try:
                conn.request("POST", self.target.prefix + path, body=payload, headers=headers)
                response = conn.getresponse()
                text = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = self.connect()
                outcome = f"{type(exc).__name__}: {exc}"
            else:
                if response.status in (200, 201):
                    self.record(rows, response.status, text)
                    return conn
                outcome = f"{response.status} {text[:200].decode(errors='replace')}"
                if response.status == 429 and rate_waits < MAX_RATE_WAITS:
                    rate_waits += 1
                    time.sleep(_retry_after(response.getheader("Retry-After")))
                    continue  # a rate limit is not a failed attempt
                if response.status < 500 and response.status not in RETRY_STATUSES:
                    break  # the request itself is wrong: resending cannot help
            attempt += 1
            if attempt < MAX_ATTEMPTS:
                time.sleep(min(MAX_BACKOFF, BACKOFF * 2 ** (attempt - 1)))
        self.tally(errors=len(rows), messages=[f"{rows[0].idempotency_key}: {outcome}"])
        return conn

    def record(self, rows: list[Row], status: int, text: bytes) -> None:
        """Count an answer: one event, or a bulk answer's per-item results."""
        if not self.bulk:
            self.tally(written=int(status == 201), duplicates=int(status == 200))
            return
        data = json.loads(text)["data"]
        messages = [
            f"{rows[r['index']].idempotency_key}: {r['errors']}"
            for r in data["results"]
            if r["status"] == "invalid"
        ]
        self.tally(
            written=data["created"],
            duplicates=data["duplicate"],
            errors=data["invalid"],
            messages=messages,
        )

    def tally(
        self, written: int = 0, duplicates: int = 0, errors: int = 0, messages: Sequence[str] = ()
    ) -> None:
        with self.lock:
            self.report.written += written
            self.report.duplicates += duplicates
            self.report.errors += errors
            self.done += written + duplicates + errors
            room = KEEP_MESSAGES - len(self.report.messages)
            self.report.messages.extend(messages[: max(0, room)])


def _retry_after(value: str | None) -> float:
    """Seconds to wait as a 429's Retry-After says (a number of seconds), within bounds."""
    try:
        return min(MAX_RETRY_AFTER, max(0.1, float(value or 1)))
    except ValueError:
        return 1.0


def post_rows(
    url: str,
    rows: Iterable[Row],
    *,
    tokens: Mapping[int, str] | str | None = None,
    concurrency: int = 8,
    bulk: int = 0,
    estimate: int | None = None,
    progress: bool = False,
) -> LoadReport:
    """Send every row through the API with `concurrency` threads; returns the tallies.

    One POST /api/attendances per event, or with `bulk`, POST /api/attendances/bulk with
    up to that many events of one school per request. `tokens` is one bearer token for
    everything or a token per school id.
    """
    if not 1 <= concurrency <= 64:
        raise ValueError("concurrency must be between 1 and 64")
    if not 0 <= bulk <= MAX_BATCH:
        raise ValueError(f"bulk batches hold at most {MAX_BATCH} events")
    target = check_target(url)
    if isinstance(tokens, Mapping):
        per_school = dict(tokens)

        def token_for(school_id: int) -> str | None:
            return per_school.get(school_id)
    else:

        def token_for(school_id: int) -> str | None:
            return tokens

    sender = _Sender(target, token_for, bulk=bulk > 0)
    started = time.perf_counter()
    threads = [
        threading.Thread(target=sender.worker, name=f"demo-http-{n}", daemon=True)
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    bar = _progress(sender, estimate, progress)
    try:
        for work in batches(rows, max(1, bulk)):
            sender.work.put(work)
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
        self.sender = sender
        self.bar = progress_bar(total)
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
