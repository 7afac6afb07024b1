"""How long the upgrade to monthly partitions (migration 0012) takes, per million events.

    python tools/bench_partition_upgrade.py --rows 1000000

Drops and recreates `attendance_bench_upgrade` (`--database`) on `--pg`, migrates it to
0011 (the plain table), loads `--rows` events of one school over twelve months, half of
them with an idempotency key, with INSERT ... SELECT over generate_series (indexes built
afterwards, as the other benchmarks do), then times `flask db upgrade` to 0012 in a child
process (less what `flask db current` takes: starting the command), and prints
the seconds, the seconds per million rows and the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import bench_year  # noqa: E402

_EVENTS = """
INSERT INTO attendances (user_id, school_id, type, timestamp, temperature, received_at,
                         idempotency_key)
SELECT 1 + i %% %(users)s, %(school)s, CASE WHEN i %% 2 = 0 THEN 'checkin' ELSE 'checkout' END,
       t, 36.6, t, CASE WHEN i %% 2 = 0 THEN 'upgrade-' || i END
FROM generate_series(0, %(rows)s - 1) AS i
CROSS JOIN LATERAL (
    SELECT timestamptz '2025-09-01 06:00+00' + (i::float8 / %(rows)s) * interval '365 days' AS t
) AS at
"""


def flask(args: list[str], url: str) -> float:
    """Run `flask --app attendance ...` on the database; the seconds it took."""
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "attendance", *args],
        env={**os.environ, "DATABASE_URL": url},
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="attendance_bench_upgrade")
    args = parser.parse_args()
    if "bench" not in args.database:
        parser.error("the database is dropped: its name must contain 'bench'")
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {args.database}")
    url = f"{args.pg}/{args.database}"
    flask(["db", "upgrade", "0011"], url)

    began = time.perf_counter()
    with psycopg.connect(url) as conn:
        school = conn.execute(
            "INSERT INTO schools (name, timezone, school_days, min_daily_hours, period_ratio,"
            " fever_threshold, generation, created_at, updated_at)"
            " VALUES ('Upgrade', 'UTC', '[1,2,3,4,5]', 4, 0.8, 37.5, 0, now(), now())"
            " RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO users (id, name, school_id, created_at, updated_at)"
            " SELECT u, 'Pupil ' || u, %s, now(), now() FROM generate_series(1, %s) AS u",
            (school, args.users),
        )
        conn.commit()
        with bench_year.bare(conn, "attendances"):
            conn.execute(_EVENTS, {"users": args.users, "school": school, "rows": args.rows})
            conn.commit()
    print(f"loaded {args.rows:,} events at 0011 in {time.perf_counter() - began:.1f}s")

    start = flask(["db", "current"], url)  # what starting the command costs
    load = os.getloadavg()[0]
    took = flask(["db", "upgrade"], url) - start
    after = os.getloadavg()[0]
    with psycopg.connect(url) as conn:
        count = conn.execute("SELECT count(*) FROM attendances").fetchone()[0]  # type: ignore[index]
        keys = conn.execute("SELECT count(*) FROM attendance_keys").fetchone()[0]  # type: ignore[index]
        key_bytes = conn.execute("SELECT pg_total_relation_size('attendance_keys')").fetchone()[0]  # type: ignore[index]
        parts = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'attendances'::regclass"
        ).fetchone()[0]  # type: ignore[index]
    print(
        f"upgrade 0011 -> 0012: {count:,} events ({keys:,} keys) into {parts} partitions in "
        f"{took:.1f} s, {took / count * 1e6:.1f} s per million events (less {start:.1f} s "
        f"for starting the command); {os.cpu_count()} CPUs, load average {load:.2f} before, "
        f"{after:.2f} after"
    )
    print(f"attendance_keys: {key_bytes / max(keys, 1):.0f} bytes per key, its index included")
    return 0 if count == args.rows and keys == (args.rows + 1) // 2 else 1


if __name__ == "__main__":
    sys.exit(main())
