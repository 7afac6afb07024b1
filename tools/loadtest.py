#!/usr/bin/env python3
"""Bounded HTTP load tester: POST check-ins to /api/attendances on a loopback server.

Closed loop (``--concurrency N``): N threads, each with one persistent connection,
send the next request as soon as the previous answer arrives. Open loop
(``--rate R``): requests are scheduled R per second whether or not the server keeps
up; latency is measured from the scheduled time, so queueing shows in the figures
instead of being hidden (no coordinated omission). Either way the run stops by
itself after ``--duration`` seconds or ``--requests`` requests, whichever is first.

Only loopback targets are accepted: the machine's network policy forbids others.
Standard library only (tqdm is used for the progress bar when installed), so the
script runs with any Python 3.11+ and adds little overhead of its own.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import ipaddress
import itertools
import json
import math
import os
import socket
import sys
import threading
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

API_PATH = "/api/attendances"
MAX_DURATION = 3600.0  # seconds: a load test is never an unattended process
MAX_CONCURRENCY = 512
MAX_USER_IDS = 1_000_000
DEFAULT_CLOSED_CONCURRENCY = 8
DEFAULT_OPEN_CONCURRENCY = 32
ERROR_BACKOFF = 0.05  # seconds a worker waits after a failed connection
STALE_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class TargetRefused(ValueError):
    """The target is not a loopback HTTP(S) address."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where the requests go, once checked."""

    scheme: str
    host: str  # what to connect to: an IP literal for http
    port: int
    path: str
    display: str


@dataclass(frozen=True)
class LoadConfig:
    """One load test run's settings."""

    url: str = "http://127.0.0.1:8000"
    token: str | None = None
    school_id: int = 1
    user_ids: Sequence[int] = (1,)
    concurrency: int | None = None  # workers; default 8 closed loop, 32 open loop
    rate: float | None = None  # requests per second: open loop when set
    duration: float = 10.0
    requests: int | None = None
    timeout: float = 5.0
    temperature: float = 36.6
    progress: bool = False

    @property
    def workers(self) -> int:
        """The number of worker threads (and connections) to use."""
        if self.concurrency is not None:
            return self.concurrency
        if self.rate is None:
            return DEFAULT_CLOSED_CONCURRENCY
        return DEFAULT_OPEN_CONCURRENCY

    def validate(self) -> Target:
        """Check the settings and the target; return the target."""
        if not 0 < self.duration <= MAX_DURATION:
            raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] seconds")
        if not 1 <= self.workers <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        if self.rate is not None and not self.rate > 0:
            raise ValueError("rate must be positive")
        if self.requests is not None and self.requests < 1:
            raise ValueError("requests must be at least 1")
        if not self.timeout > 0:
            raise ValueError("timeout must be positive")
        if not self.user_ids:
            raise ValueError("user_ids must not be empty")
        return check_target(self.url)


@dataclass
class Summary:
    """What a run did; ``to_dict`` is the --json document."""

    url: str
    mode: str  # "closed" | "open"
    concurrency: int
    rate: float | None
    requests: int  # answered + failed
    seconds: float
    latency_ms: dict[str, float | None]
    status_counts: dict[str, int]
    errors: dict[str, int]
    dropped: int = 0  # open loop: scheduled before the end but never sent

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """No 5xx answer, connection error or timeout."""
        return not any(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "url": self.url,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "latency_ms": self.latency_ms,
            "status_counts": self.status_counts,
            "errors": self.errors,
            "dropped": self.dropped,
            "ok": self.ok,
        }

    def format(self) -> str:
        """A human-readable report."""
        lat = self.latency_ms

        def ms(key: str) -> str:
            value = lat.get(key)
            return "-" if value is None else f"{value:.1f} ms"

        how = f"{self.concurrency} connections"
        if self.mode == "open":
            how = f"{self.rate:g} req/s, up to {how}"
        statuses = ", ".join(f"{k}: {v}" for k, v in self.status_counts.items())
        errors = ", ".join(f"{k} {v}" for k, v in self.errors.items())
        lines = [
            f"target    {self.url} ({self.mode} loop, {how})",
            f"requests  {self.requests} in {self.seconds:.2f} s = {self.rps:.1f} req/s",
            f"latency   p50 {ms('p50')}, p95 {ms('p95')}, p99 {ms('p99')}, max {ms('max')}",
            f"status    {statuses or 'none'}",
            f"errors    {errors}",
        ]
        if self.dropped:
            lines.append(f"dropped   {self.dropped} scheduled requests never sent")
        return "\n".join(lines)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of ascending values (None when there are none)."""
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    if not sorted_values:
        return None
    # round() keeps float noise (99.9 * 1000 / 100 = 999.0000000000001) out of ceil.
    rank = max(1, math.ceil(round(p * len(sorted_values) / 100, 9)))
    return sorted_values[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/max/mean in milliseconds of latencies given in seconds."""
    values = sorted(seconds)
    result: dict[str, float | None] = {}
    for name, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)):
        value = percentile(values, p)
        result[name] = None if value is None else round(value * 1000, 3)
    result["mean"] = round(sum(values) / len(values) * 1000, 3) if values else None
    return result


def check_target(url: str) -> Target:
    """Parse ``url`` and refuse anything that is not a loopback HTTP(S) server."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"{url!r}: only http:// and https:// URLs are supported")
    host = parts.hostname
    if not host:
        raise TargetRefused(f"{url!r}: no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"{url!r}: {exc}") from None
    connect_to = host
    if host.rstrip(".").lower() == "localhost":
        addresses = _resolve(host, port)
        if not addresses or not all(a.is_loopback for a in addresses):
            raise TargetRefused(f"{url!r}: localhost does not resolve to loopback")
        if parts.scheme == "http":  # connect to what was checked, not a new lookup
            connect_to = str(addresses[0])
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise TargetRefused(
                f"{url!r}: only loopback targets are allowed "
                "(127.0.0.0/8, ::1 or localhost), not host names"
            ) from None
        if not address.is_loopback:
            raise TargetRefused(f"{url!r}: {host} is not a loopback address")
    path = parts.path.rstrip("/") + API_PATH
    return Target(parts.scheme, connect_to, port, path, f"{url.rstrip('/')}{API_PATH}")


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` resolves to (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    addresses = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
    return sorted(set(addresses), key=lambda a: (a.version, a))  # IPv4 first


def parse_user_ids(text: str) -> list[int]:
    """Parse ``"1-2000"`` or ``"1,5,10-20"`` into a list of ids."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            raise ValueError(f"bad user id range {part!r}") from None
        if first < 1 or last < first:
            raise ValueError(f"bad user id range {part!r}")
        if len(ids) + last - first + 1 > MAX_USER_IDS:
            raise ValueError(f"at most {MAX_USER_IDS} user ids")
        ids.extend(range(first, last + 1))
    if not ids:
        raise ValueError("no user ids")
    return ids


@dataclass
class _Stats:
    """One worker's tally (only that worker writes it)."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    done: int = 0


class _Run:
    """Shared state of one run: the request counter, the clock and the stop flag."""

    def __init__(self, config: LoadConfig, target: Target) -> None:
        self.config = config
        self.target = target
        self.run_id = uuid.uuid4().hex[:12]  # fresh keys: reruns are not replays
        self.counter = itertools.count()  # next() is atomic under the GIL
        self.stop = threading.Event()
        self.started = time.perf_counter()
        self.deadline = self.started + config.duration
        self.planned: int | None = config.requests
        if config.rate is not None:  # open loop: requests scheduled before the end
            scheduled = math.ceil(round(config.duration * config.rate, 9))
            self.planned = min(scheduled, config.requests or scheduled)
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "attendance-loadtest/1",
        }
        if config.token:
            self.headers["Authorization"] = f"Bearer {config.token}"

    def next_request(self) -> tuple[int, float] | None:
        """Claim the next request: (index, scheduled start), or None when done."""
        i = next(self.counter)
        if self.stop.is_set() or (self.planned is not None and i >= self.planned):
            return None
        now = time.perf_counter()
        if self.config.rate is None:
            return (i, now) if now < self.deadline else None
        scheduled = self.started + i / self.config.rate
        if now >= self.deadline:
            return None  # backlog at the end: counted as dropped
        if scheduled > now and self.stop.wait(scheduled - now):
            return None
        return i, scheduled

    def request(self, i: int) -> tuple[bytes, dict[str, str]]:
        """Body and headers of request ``i``."""
        config = self.config
        body = {
            "user_id": config.user_ids[i % len(config.user_ids)],
            "school_id": config.school_id,
            "type": "checkin",
            "temperature": config.temperature,
        }
        headers = {**self.headers, "Idempotency-Key": f"loadtest-{self.run_id}-{i}"}
        return json.dumps(body).encode(), headers

    def connect(self) -> http.client.HTTPConnection:
        """A new (lazily opened) connection to the target."""
        t = self.target
        if t.scheme == "https":
            return http.client.HTTPSConnection(t.host, t.port, timeout=self.config.timeout)
        return http.client.HTTPConnection(t.host, t.port, timeout=self.config.timeout)


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> int:
    """Send one request and read the whole answer (so the connection is reusable)."""
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def _worker(run: _Run, stats: _Stats) -> None:
    """Send requests until the run says stop."""
    conn: http.client.HTTPConnection | None = None
    used = False  # whether conn has carried a request (may have gone stale)
    try:
        while (claim := run.next_request()) is not None:
            i, scheduled = claim
            body, headers = run.request(i)
            for attempt in (1, 2):
                if conn is None:
                    conn, used = run.connect(), False
                try:
                    status = _post(conn, run.target.path, body, headers)
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = None
                    # A kept-alive connection the server closed while idle: retry
                    # once on a new one (safe: the Idempotency-Key makes it a replay).
                    if attempt == 1 and used and isinstance(exc, STALE_ERRORS):
                        continue
                    kind = "timeout" if isinstance(exc, TimeoutError) else "connection"
                    stats.errors[kind] += 1
                    run.stop.wait(ERROR_BACKOFF)  # no hot loop on a dead server
                else:
                    used = True
                    stats.latencies.append(time.perf_counter() - scheduled)
                    stats.statuses[status] += 1
                break
            stats.done += 1
    finally:
        if conn is not None:
            conn.close()


def _progress(run: _Run, all_stats: list[_Stats], threads: list[threading.Thread]) -> None:
    """Show a progress bar (or line) on stderr until the workers finish."""
    total = run.planned
    try:
        tqdm = importlib.import_module("tqdm").tqdm  # optional, untyped
    except ImportError:  # stdlib fallback
        tqdm = None
    bar = tqdm(total=total, unit="req", dynamic_ncols=True, leave=False) if tqdm else None
    shown = 0
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
        done = sum(s.done for s in all_stats)
        failed = sum(sum(s.errors.values()) for s in all_stats)
        left = max(0.0, run.deadline - time.perf_counter())
        if bar is not None:
            bar.update(done - shown)
            bar.set_postfix(errors=failed, left=f"{left:.0f}s", refresh=False)
        else:
            line = f"\r{done} requests, {failed} errors, {left:.0f} s left"
            print(line, end="", file=sys.stderr, flush=True)
        shown = done
    if bar is not None:
        bar.close()
    else:
        print(file=sys.stderr)


def run(config: LoadConfig) -> Summary:
    """Run one bounded load test and return its summary."""
    target = config.validate()
    state = _Run(config, target)
    all_stats = [_Stats() for _ in range(config.workers)]
    threads = [
        threading.Thread(target=_worker, args=(state, s), name=f"loadtest-{n}", daemon=True)
        for n, s in enumerate(all_stats)
    ]
    for t in threads:
        t.start()
    monitor = None
    if config.progress:
        args = (state, all_stats, threads)
        monitor = threading.Thread(target=_progress, args=args, daemon=True)
        monitor.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.1)  # short joins keep Ctrl-C responsive
    except KeyboardInterrupt:
        state.stop.set()
        for t in threads:
            t.join()
    if monitor is not None:
        monitor.join()
    return _summarise(state, all_stats, time.perf_counter() - state.started)


def _summarise(state: _Run, all_stats: list[_Stats], seconds: float) -> Summary:
    """Merge the workers' tallies."""
    config = state.config
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    for s in all_stats:
        latencies.extend(s.latencies)
        statuses.update(s.statuses)
        errors.update(s.errors)
    done = sum(s.done for s in all_stats)
    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    dropped = 0
    if config.rate is not None and state.planned is not None:  # always so, open loop
        dropped = max(0, state.planned - done)
    return Summary(
        url=state.target.display,
        mode="closed" if config.rate is None else "open",
        concurrency=config.workers,
        rate=config.rate,
        requests=done,
        seconds=seconds,
        latency_ms=latency_summary(latencies),
        status_counts={str(code): statuses[code] for code in sorted(statuses)},
        errors={
            "connection": errors["connection"],
            "timeout": errors["timeout"],
            "http_5xx": server_errors,
        },
        dropped=dropped,
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="loadtest.py",
        description="Send check-ins (POST /api/attendances) to a loopback server "
        "for a bounded time, then print latency and status figures.",
        epilog="Exit status: 0 when every request was answered below 500, 1 after "
        "any 5xx answer, connection error or timeout, 2 on bad arguments or a "
        "non-loopback target.",
    )
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="server base URL, loopback only (default: %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("LOADTEST_TOKEN"),
        help="bearer token (default: $LOADTEST_TOKEN)",
    )
    parser.add_argument(
        "--school-id",
        type=int,
        default=1,
        help="school_id sent in every body (default: %(default)s)",
    )
    parser.add_argument(
        "--user-ids",
        default="1",
        help="user ids to cycle through, e.g. 1-2000 or 1,5,10-20 (default: %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="closed loop: worker connections (default "
        f"{DEFAULT_CLOSED_CONCURRENCY}); with --rate: the most "
        f"requests in flight (default {DEFAULT_OPEN_CONCURRENCY})",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: requests per second, latency counted from each request's scheduled time",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help=f"stop after this many seconds, at most {MAX_DURATION:g} (default: %(default)s)",
    )
    parser.add_argument(
        "--requests", type=int, help="stop after this many requests (default: no limit)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="per-request timeout in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=36.6,
        help="temperature sent in every body (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = out or sys.stdout
    try:
        config = LoadConfig(
            url=args.url,
            token=args.token,
            school_id=args.school_id,
            user_ids=parse_user_ids(args.user_ids),
            concurrency=args.concurrency,
            rate=args.rate,
            duration=args.duration,
            requests=args.requests,
            timeout=args.timeout,
            temperature=args.temperature,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
        summary = run(config)
    except ValueError as exc:  # TargetRefused included
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary.to_dict()) if args.json else summary.format(), file=out)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
