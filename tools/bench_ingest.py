#!/usr/bin/env python3
"""Ingest benchmarks, each beside its baseline from the same run (`make bench-ingest`).

(a) single check-ins per second through the real app (auth, validation, idempotency and
    all) under gunicorn, measured with tools/loadtest.py at a fixed concurrency;
(b) pgbench running the same statement (the event and its key) at the same
    concurrency: the database's limit;
(c) tools/bare_insert_app.py under the same gunicorn settings: a Flask endpoint that does
    nothing but that statement with psycopg, the framework's floor;
(d) POST /api/attendances/bulk events per second against psycopg COPY of the same rows.

It drops and recreates the schema of the benchmark database (its name must contain
"bench"), seeds one school with 2,000 users and four weeks of demo events, and starts
and stops its own loopback servers. The machine is shared and noisy, so (a), (b) and
(c) run in interleaved rounds, and so do the two halves of (d); the table shows the
median round. About two and a half minutes with the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, whatever else is installed

import loadtest  # noqa: E402 - tools/loadtest.py, beside this script
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from attendance import create_app  # noqa: E402
from attendance.config import _database_url  # noqa: E402
from attendance.demo.generate import DemoSpec, SchoolPlan, generate_school_events  # noqa: E402
from attendance.demo.store import load_db, prepare  # noqa: E402
from attendance.extensions import db  # noqa: E402
from attendance.security.roles import DEVICE  # noqa: E402
from attendance.security.tokens import create_token  # noqa: E402

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/attendance_bench_ingest"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"  # the benchmarks' database
BULK_BATCH = 5000
RATE = "100000000/minute"
COLUMNS = "user_id, school_id, type, timestamp, temperature, image, received_at, idempotency_key"
NEXT_IDS = "SELECT nextval(pg_get_serial_sequence('attendances', 'id')) FROM generate_series(1, %s)"
# The bare app's statement (tools/bare_insert_app.py: the event and its key), with a
# fresh key per transaction like the load tester's.
PGBENCH_SCRIPT = """\\set uid random(1, {users})
WITH event AS (
    SELECT nextval('attendances_id_seq') AS id, now() AS at,
        'pgbench-' || gen_random_uuid() AS key
), key AS (
    INSERT INTO attendance_keys (school_id, idempotency_key, attendance_id, timestamp)
    SELECT {school}, key, id, at FROM event
)
INSERT INTO attendances
    (id, user_id, school_id, type, timestamp, temperature, received_at, idempotency_key)
SELECT id, :uid, {school}, 'checkin', at, 36.6, now(), key FROM event RETURNING id;
"""


@dataclass(frozen=True)
class Settings:
    """The knobs, shared by every measurement."""

    database: str  # a libpq URL
    redis: str  # a Redis URL
    worker_class: str
    workers: int
    threads: int
    concurrency: int
    duration: float
    warmup: float
    rounds: int
    bulk_events: int
    port: int


@dataclass
class Result:
    """One measurement: a rate with its latency percentiles (milliseconds)."""

    rate: float
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    note: str = ""


@dataclass
class Series:
    """The rounds of one row of the table."""

    name: str
    unit: str
    rounds: list[Result] = field(default_factory=list)

    def median(self) -> Result:
        """The round with the median rate (its latencies come with it)."""
        ordered = sorted(self.rounds, key=lambda r: r.rate)
        return ordered[(len(ordered) - 1) // 2]

    def rates(self) -> str:
        return ", ".join(f"{r.rate:.0f}" for r in self.rounds)


# -- the database ---------------------------------------------------------------------------


def reset_and_seed(database: str) -> tuple[int, list[int], str]:
    """A fresh schema, one school, 2,000 users, four weeks of events: (school, users, token)."""
    if "bench" not in (make_url(database).database or ""):
        raise SystemExit(f"refusing to wipe {database}: its name must contain 'bench'")
    from flask_migrate import upgrade

    create_database(database)
    app = create_app({"SQLALCHEMY_DATABASE_URI": _database_url(database)})
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        end = dt.date.today() - dt.timedelta(days=1)
        spec = DemoSpec(1, 2000, end - dt.timedelta(days=27), end, ("Asia/Ho_Chi_Minh",), 1)
        school = prepare(spec)[0]
        report = load_db(spec, [school])
        token = device_token(school.id)
        db.session.commit()
        db.engine.dispose()
    print(f"seeded 1 school, 2,000 users: {report.summary()}", file=sys.stderr)
    return school.id, list(school.user_ids), token


def create_database(database: str) -> None:
    """Create the benchmark database when it does not exist yet."""
    url = make_url(database)
    maintenance = url.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [url.database]).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database or "")))


def device_token(school_id: int) -> str:
    """A device token for the school: what a gate device sends."""
    _, token = create_token(DEVICE, school_id, "bench-ingest")
    return token


def settle(database: str) -> None:
    """VACUUM ANALYZE after the single-row rounds, so autovacuum does not run into (d)."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) attendances")


def count_rows(database: str) -> int:
    """How many attendance rows there are."""
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM attendances").fetchone()
    return int(row[0]) if row else 0


# -- servers --------------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(app_spec: str, settings: Settings, port: int, env: dict[str, str]) -> Iterator[str]:
    """Serve `app_spec` with the project's gunicorn.conf.py and the benchmark's process
    settings; yields the base URL. The server's log (a JSON line per request) goes to a
    file, shown only if the server fails."""
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "--keep-alive", "30"]
    command += ["--workers", str(settings.workers), "--threads", str(settings.threads)]
    command += ["--worker-class", settings.worker_class, app_spec]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Any, timeout: float = 30
) -> None:
    """Return once something accepts connections on the port (fail if the server died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            tail = "".join(log.readlines()[-20:])
            raise SystemExit(f"the server exited with status {process.returncode}:\n{tail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:g} s")


# -- measurements ---------------------------------------------------------------------------


def load(
    url: str,
    settings: Settings,
    school: int,
    users: Sequence[int],
    token: str | None,
    duration: float,
) -> loadtest.Summary:
    """A closed-loop run of the load tester at the benchmark's concurrency."""
    config = loadtest.LoadConfig(
        url=url,
        token=token,
        school_id=school,
        user_ids=users,
        concurrency=settings.concurrency,
        duration=duration,
    )
    return loadtest.run(config)


def measure_http(
    url: str,
    settings: Settings,
    school: int,
    users: Sequence[int],
    token: str | None,
    rows: Callable[[], int] | None = None,
) -> Result:
    """One round against a server; with `rows`, the note compares rows added with 201s."""
    before = rows() if rows else 0
    summary = load(url, settings, school, users, token, settings.duration)
    lat = summary.latency_ms
    note = ", ".join(f"{k}: {v}" for k, v in summary.status_counts.items())
    if errors := sum(summary.errors.values()):
        note += f"; {errors} errors"
    if rows:
        note += f"; {rows() - before} rows added"
    return Result(summary.rps, lat["p50"], lat["p95"], lat["p99"], note)


def measure_pgbench(settings: Settings, script: Path, duration: float) -> Result:
    """pgbench -M prepared: the INSERT at the same concurrency, per-transaction latencies."""
    pgbench = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    with tempfile.TemporaryDirectory() as logs:
        command = [pgbench, "-n", "-M", "prepared", "-c", str(settings.concurrency), "-j", "2"]
        command += ["-f", str(script), "-T", str(max(1, round(duration)))]
        command += ["-l", "--log-prefix", f"{logs}/log", settings.database]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        found = re.search(r"tps = ([\d.]+)", out)
        if found is None:
            raise SystemExit(f"pgbench said:\n{out}")
        latencies = sorted(
            int(line.split()[2]) / 1e6
            for log in Path(logs).glob("log*")
            for line in log.read_text().splitlines()
            if line.strip()
        )
    lat = loadtest.latency_summary(latencies)
    return Result(float(found.group(1)), lat["p50"], lat["p95"], lat["p99"])


def bulk_batches(school: int, users: Sequence[int], events: int, tag: str) -> list[list[dict]]:
    """Generated events (not in the seed: another seed and date), in bulk-sized batches."""
    plan = SchoolPlan("bench", "Asia/Ho_Chi_Minh")
    items: list[dict[str, Any]] = []
    day = dt.date.today() - dt.timedelta(days=90)
    while len(items) < events:
        for event in generate_school_events(plan, len(users), day, day, seed=7):
            items.append(
                {
                    "user_id": users[event.user_key],
                    "school_id": school,
                    "type": event.type,
                    "timestamp": event.timestamp.isoformat(),
                    "temperature": float(event.temperature),
                    "client_event_id": f"{tag}-{event.client_event_id}",
                }
            )
        day += dt.timedelta(days=1)
    items = items[:events]
    return [items[i : i + BULK_BATCH] for i in range(0, len(items), BULK_BATCH)]


def measure_bulk(url: str, batches: list[list[dict]], token: str | None) -> Result:
    """POST the batches one after another on one connection; events stored per second."""
    bodies = [json.dumps({"attendances": b}).encode() for b in batches]
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    target = loadtest.check_target(url)
    conn = http.client.HTTPConnection(target.host, target.port, timeout=120)
    created, latencies = 0, []
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        conn.request("POST", "/api/attendances/bulk", body=body, headers=headers)
        response = conn.getresponse()
        payload = json.loads(response.read())
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            raise SystemExit(f"bulk answered {response.status}: {str(payload)[:500]}")
        created += payload["data"]["created"]
    seconds = time.perf_counter() - started
    conn.close()
    lat = loadtest.latency_summary(latencies)
    note = f"{created} created, {len(bodies)} requests of {BULK_BATCH}"
    return Result(created / seconds, lat["p50"], lat["p95"], lat["p99"], note)


def measure_copy(database: str, batches: list[list[dict]]) -> Result:
    """psycopg COPY of the same rows, one batch per transaction, stored as the schema
    keeps them: ids drawn from the sequence, the events COPYed into attendances and their
    idempotency keys into attendance_keys (whose primary key is what makes a key unique
    since the events are partitioned; before, the COPY into attendances maintained that
    unique index itself)."""
    now = dt.datetime.now(dt.UTC)
    prepared = [
        [
            (
                i["user_id"],
                i["school_id"],
                i["type"],
                dt.datetime.fromisoformat(i["timestamp"]),
                i["temperature"],
                None,
                now,
                i["client_event_id"],
            )
            for i in batch
        ]
        for batch in batches
    ]
    latencies = []
    with psycopg.connect(database) as conn:
        started = time.perf_counter()
        for rows in prepared:
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(NEXT_IDS, (len(rows),))
                ids = [ident for (ident,) in cur.fetchall()]
                with cur.copy(f"COPY attendances (id, {COLUMNS}) FROM STDIN") as cp:
                    for ident, row in zip(ids, rows, strict=True):
                        cp.write_row((ident, *row))
                with cur.copy(
                    "COPY attendance_keys (school_id, idempotency_key, attendance_id, timestamp)"
                    " FROM STDIN"
                ) as cp:
                    for ident, row in zip(ids, rows, strict=True):
                        cp.write_row((row[1], row[7], ident, row[3]))
            conn.commit()
            latencies.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - started
    total = sum(len(r) for r in prepared)
    lat = loadtest.latency_summary(latencies)
    return Result(total / seconds, lat["p50"], lat["p95"], lat["p99"], f"{total} rows")


# -- the report -----------------------------------------------------------------------------


def table(series: Sequence[Series]) -> str:
    """The median rounds as a fixed-width table, with every round's rate."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    head = f"{'':36} {'rate':>8} {'unit':<6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    lines = [head + "  rounds; note"]
    for s in series:
        r = s.median()
        lines.append(
            f"{s.name:36} {r.rate:8.0f} {s.unit:<6} {ms(r.p50):>7} {ms(r.p95):>7} "
            f"{ms(r.p99):>7}  [{s.rates()}] {r.note}"
        )
    return "\n".join(lines)


def verdicts(rows: dict[str, Series]) -> list[str]:
    """The ratios the issue asks for, against its targets."""
    lines = []
    real, bare = rows["real"].median(), rows["bare"].median()
    ratio = real.rate / bare.rate
    p99 = real.p99 or 0.0
    met = "met" if ratio >= 0.70 and p99 < 50 else "NOT met"
    lines.append(f"real / bare    = {ratio:.2f}   target >= 0.70 with p99 < 50 ms: {met}")
    lines.append(f"bare / pgbench = {bare.rate / rows['pgbench'].median().rate:.2f}")
    ratio = rows["bulk"].median().rate / rows["copy"].median().rate
    met = "met" if ratio >= 0.50 else "NOT met"
    lines.append(f"bulk / COPY    = {ratio:.2f}   target >= 0.50: {met}")
    return lines


def real_app_env(settings: Settings, run: str) -> dict[str, str]:
    """The real app's environment: as deployed, Redis counts the write rate limit (set
    out of reach) and holds the token cache's version (security/gate.py), under keys of
    this run's own."""
    return {
        "DATABASE_URL": settings.database,
        "REDIS_URL": settings.redis,
        "RATELIMIT_WRITE": RATE,
        "ATTENDANCE_RATELIMIT_KEY_PREFIX": f"{run}-{os.getpid()}",
    }


def run(settings: Settings) -> str:
    """Every benchmark, interleaved; returns the report."""
    started = time.perf_counter()
    school, users, token = reset_and_seed(settings.database)
    app_env = real_app_env(settings, "bench-ingest")
    bare_env = {"BARE_DATABASE_URL": settings.database}
    rows = {
        "real": Series("(a) real POST /api/attendances", "req/s"),
        "pgbench": Series("(b) pgbench, the same statement", "tx/s"),
        "bare": Series("(c) bare Flask + psycopg, event + key", "req/s"),
        "bulk": Series("(d) POST /api/attendances/bulk", "ev/s"),
        "copy": Series("(d) COPY of the same rows", "rows/s"),
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        gunicorn("attendance:create_app()", settings, settings.port, app_env) as real_url,
        gunicorn("tools.bare_insert_app:app", settings, settings.port + 1, bare_env) as bare_url,
    ):
        script = Path(tmp) / "insert.sql"
        script.write_text(PGBENCH_SCRIPT.format(users=len(users), school=school))
        for url in (real_url, bare_url):  # warm-up: connections, caches, prepared statements
            load(url, settings, school, users, token, settings.warmup)
        measure_pgbench(settings, script, settings.warmup)
        steps: list[tuple[str, Callable[[], Result]]] = [
            ("pgbench", lambda: measure_pgbench(settings, script, settings.duration)),
            ("bare", lambda: measure_http(bare_url, settings, school, users, token)),
            (
                "real",
                lambda: measure_http(
                    real_url, settings, school, users, token, lambda: count_rows(settings.database)
                ),
            ),
        ]
        for n in range(settings.rounds):
            for name, step in steps[n % 3 :] + steps[: n % 3]:  # rotate: no fixed order
                rows[name].rounds.append(step())
                print(f"round {n + 1}: {name} {rows[name].rounds[-1].rate:.0f}", file=sys.stderr)
        settle(settings.database)
        for n in range(settings.rounds):
            batches = bulk_batches(school, users, settings.bulk_events, f"bench{n}")
            copies = bulk_batches(school, users, settings.bulk_events, f"copy{n}")
            rows["bulk"].rounds.append(measure_bulk(real_url, batches, token))
            rows["copy"].rounds.append(measure_copy(settings.database, copies))
            print(f"round {n + 1}: bulk and COPY", file=sys.stderr)
    head = (
        f"ingest benchmark: gunicorn {settings.worker_class}, {settings.workers} workers x "
        f"{settings.threads} threads; {settings.concurrency} client connections; "
        f"{settings.rounds} rounds of {settings.duration:g} s; "
        f"bulk {settings.bulk_events} events per round; Redis {settings.redis}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    total = f"total {time.perf_counter() - started:.0f} s"
    return "\n".join([head, table(list(rows.values())), "", *verdicts(rows), total])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument(
        "--redis",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        help="Redis for the rate limit and the token cache",
    )
    parser.add_argument(
        "--worker-class", default="gthread", choices=["gthread", "sync"], help="(gthread)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (8)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up (3)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--bulk-events", type=int, default=30_000, help="events per round")
    parser.add_argument("--port", type=int, default=8765, help="this port and the next")
    args = parser.parse_args(argv)
    database = args.database.replace("postgresql+psycopg://", "postgresql://")
    if not 1 <= args.rounds <= 9 or not 0 < args.duration <= 60:
        parser.error("rounds must be 1 to 9 and duration at most 60 s")
    settings = Settings(
        database=database,
        redis=args.redis,
        worker_class=args.worker_class,
        workers=args.workers,
        threads=args.threads,
        concurrency=args.concurrency,
        duration=args.duration,
        warmup=args.warmup,
        rounds=args.rounds,
        bulk_events=args.bulk_events,
        port=args.port,
    )
    print(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
