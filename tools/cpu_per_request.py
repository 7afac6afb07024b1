#!/usr/bin/env python3
"""CPU per request in one process: the real check-in and bulk routes against the bare app.

Sends the same requests `tools/bench_ingest.py` sends, straight through each app's WSGI
callable (no server, no sockets on the client side), and reports `time.process_time()`
per request. Unlike requests per second from outside, this holds up on a machine that
other work is loading: the figure is this process's own CPU. The database and Redis do
their share in their own processes and are not counted.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/attendance_x_bench \
    BENCH_REDIS_URL=redis://127.0.0.1:6379/12 python tools/cpu_per_request.py

It wipes and seeds the benchmark database as `make bench-ingest` does (the name must
contain "bench"). `--profile out.prof` writes a cProfile of the real check-ins; for a
sampling profile run it under `py-spy record --gil -o out.svg -- python ...` (py-spy is
not a dependency of the project: `.venv/bin/pip install py-spy`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

# As under gunicorn.conf.py: the metrics go through files shared by the processes.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="cpu-per-request-"))

import bench_ingest  # noqa: E402 - tools/bench_ingest.py, beside this script

RUN = uuid.uuid4().hex[:8]  # keys of this run
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Any]


def environ(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """A WSGI environ for a POST, as gunicorn builds it."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "Python-urllib/3",
        "HTTP_ACCEPT_ENCODING": "identity",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def call(app: Wsgi, env: dict[str, Any]) -> int:
    """Run one request; its status."""
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> None:
        status.append(line)

    result = app(env, start_response)
    try:
        for _ in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return int(status[0].split()[0])


def check_ins(
    app: Wsgi, school: int, users: Sequence[int], token: str, count: int, run: str
) -> tuple[float, dict[int, int]]:
    """CPU seconds per check-in over `count` check-ins, and the statuses answered."""
    envs = []
    for i in range(count):
        body = {"user_id": users[i % len(users)], "school_id": school, "type": "checkin"}
        body["temperature"] = 36.6
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"cpu-{RUN}-{run}-{i}"}
        envs.append(environ("/api/attendances", json.dumps(body).encode(), headers))
    statuses: dict[int, int] = {}
    started = time.process_time()
    for env in envs:
        status = call(app, env)
        statuses[status] = statuses.get(status, 0) + 1
    return (time.process_time() - started) / count, statuses


def bulk(app: Wsgi, school: int, users: Sequence[int], token: str, batches: int, run: str) -> float:
    """CPU seconds per event of POST /api/attendances/bulk in batches of 5,000."""
    made = bench_ingest.bulk_batches(
        school, users, batches * bench_ingest.BULK_BATCH, f"{RUN}-{run}"
    )
    headers = {"Authorization": f"Bearer {token}"}
    envs = [
        environ("/api/attendances/bulk", json.dumps({"attendances": b}).encode(), headers)
        for b in made
    ]
    started = time.process_time()
    for env in envs:
        status = call(app, env)
        if status != 200:
            raise SystemExit(f"bulk answered {status}")
    return (time.process_time() - started) / sum(len(b) for b in made)


def seed(database: str) -> tuple[int, list[int], str]:
    """`make bench-ingest`'s seed, in a process of its own: the migrations configure
    logging their way, and the app measured here must log as it does under gunicorn."""
    code = (
        "import json, sys; sys.path.insert(0, 'tools'); import bench_ingest; "
        f"print(json.dumps(bench_ingest.reset_and_seed({database!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    school, users, token = json.loads(out.strip().splitlines()[-1])
    return school, users, token


def reuse(database: str) -> tuple[int, list[int]]:
    """The school and users a previous run seeded."""
    import psycopg

    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT min(id) FROM schools").fetchone()
        school = int(row[0]) if row and row[0] is not None else 0
        users = conn.execute(
            "SELECT user_id FROM enrolments WHERE school_id = %s ORDER BY user_id", [school]
        ).fetchall()
    if not users:
        raise SystemExit("nothing to reuse: run once without --reuse")
    return school, [u for (u,) in users]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE_URL", bench_ingest.DEFAULT_DATABASE),
    )
    parser.add_argument(
        "--redis", default=os.environ.get("BENCH_REDIS_URL", bench_ingest.DEFAULT_REDIS)
    )
    parser.add_argument("--requests", type=int, default=1000, help="check-ins per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds, each real then bare")
    parser.add_argument("--bulk-batches", type=int, default=2, help="batches of 5,000 (0: none)")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare app")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the app's objects to the collector"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the data of the last run (no new seed)"
    )
    parser.add_argument("--profile", help="write a cProfile of the real check-ins here")
    args = parser.parse_args(argv)
    database = args.database.replace("postgresql+psycopg://", "postgresql://")

    if args.reuse:
        school, users = reuse(database)
        token = ""
    else:
        school, users, token = seed(database)
    os.environ.update(
        {
            "DATABASE_URL": database,
            "REDIS_URL": args.redis,
            "RATELIMIT_WRITE": bench_ingest.RATE,
            "ATTENDANCE_RATELIMIT_KEY_PREFIX": f"cpu-{uuid.uuid4().hex}",
            "BARE_DATABASE_URL": database,
            "LOG_FORMAT": "json",
        }
    )
    from attendance import create_app

    real = create_app()
    if not token:
        from attendance.extensions import db

        with real.app_context():
            token = bench_ingest.device_token(school)
            db.session.commit()
    sys.stderr = open(os.devnull, "w")  # the request log is written, as under gunicorn  # noqa: SIM115
    from bare_insert_app import app as bare

    check_ins(real, school, users, token, 200, "warm")  # connections, caches, statements
    if not args.no_freeze:  # as gunicorn.conf.py's post_worker_init does
        from attendance.ops.preload import freeze

        freeze()
    if not args.no_bare:
        check_ins(bare, school, users, token, 200, "warm")
    reals: list[float] = []
    bares: list[float] = []
    for n in range(args.rounds):
        if args.profile and n == 0:
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            real_cpu, statuses = check_ins(real, school, users, token, args.requests, f"r{n}")
            profiler.disable()
            profiler.dump_stats(args.profile)
        else:
            real_cpu, statuses = check_ins(real, school, users, token, args.requests, f"r{n}")
        if set(statuses) != {201}:
            raise SystemExit(f"the real app answered {statuses}")
        reals.append(real_cpu)
        if not args.no_bare:
            bares.append(check_ins(bare, school, users, token, args.requests, f"b{n}")[0])
    reals.sort()
    line = f"real: {reals[0] * 1000:.3f} ms min, {reals[len(reals) // 2] * 1000:.3f} ms median"
    if bares:
        bares.sort()
        line += (
            f"; bare: {bares[0] * 1000:.3f} ms min, {bares[len(bares) // 2] * 1000:.3f} ms median"
            f"; bare / real (min) {bares[0] / reals[0]:.2f}"
        )
    print(
        f"CPU per check-in over {args.rounds} rounds of {args.requests}: {line}",
        file=sys.__stderr__,
    )
    if args.bulk_batches:
        per_event = bulk(real, school, users, token, args.bulk_batches, "bulk")
        print(f"bulk: {per_event * 1e6:.1f} us per event", file=sys.__stderr__)
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.__stderr__)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        sys.stderr = sys.__stderr__  # the request log went to /dev/null; errors do not
