"""Benchmark: a month's report through the pipeline vs one hand-written SQL statement.

    make bench-aggregate            # or: python tools/bench_aggregate.py --users 2000

Loads a realistic month into a fresh PostgreSQL database (the demo generator: 2,000
pupils of one open-campus school, where pupils go out for lunch: about 150,000 events over
21 school days), starts gunicorn and 2 `flask worker` processes on Redis, then times, in
one run:

- cold: HTTP request to finished document, nothing cached (median of --cold rounds; before
  each, the school's reports and cached days are deleted; each round also times the
  baseline, so both are measured on the same, possibly drifting, machine);
- warm: the same request again;
- day cache: the same month by week (every past day comes from the per-day cache);
- baseline: the month's present/absent as one SQL statement with window functions.

Before timing, a small second school's month is computed once, so every process has
connected and loaded its code: "cold" means no figures cached, not processes starting.
The baseline and the service must agree on the figures, or the run fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from attendance.demo import generate  # noqa: E402

# Presence over a past range, by presence.md, in one statement. The pairing state machine
# reduces to: a checkout closes a session iff a checkin came after the previous checkout
# (of that user and local day); the session opened at the first of those checkins.
BASELINE_SQL = """
WITH params AS (
    SELECT %(school)s::int AS school_id, %(tz)s::text AS tz,
           %(start)s::date AS d0, %(end)s::date AS d1,
           %(hours)s::numeric AS min_hours, %(ratio)s::numeric AS ratio
),
counted AS (
    SELECT d::date AS day
    FROM params p, generate_series(p.d0, p.d1, interval '1 day') AS d
    WHERE extract(isodow FROM d)::int IN (
            SELECT jsonb_array_elements_text(s.school_days::jsonb)::int
            FROM schools s WHERE s.id = p.school_id)
      AND d::date NOT IN (SELECT c.date FROM closures c WHERE c.school_id = p.school_id)
),
ev AS (
    SELECT a.user_id, (a.timestamp AT TIME ZONE p.tz)::date AS day, a.timestamp AS ts, a.id,
           a.type,
           coalesce(sum((a.type = 'checkout')::int) OVER w_before, 0) AS run
    FROM attendances a, params p
    WHERE a.school_id = p.school_id
      AND a.timestamp >= (p.d0::timestamp AT TIME ZONE p.tz)
      AND a.timestamp < ((p.d1 + 1)::timestamp AT TIME ZONE p.tz)
    WINDOW w_before AS (PARTITION BY a.user_id, (a.timestamp AT TIME ZONE p.tz)::date
                        ORDER BY a.timestamp, a.id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
opened AS (
    SELECT user_id, day, run, min(ts) AS open_at
    FROM ev WHERE type = 'checkin' GROUP BY user_id, day, run
),
daily AS (
    SELECT e.user_id, e.day, sum(e.ts - o.open_at) AS total
    FROM ev e JOIN opened o USING (user_id, day, run)
    WHERE e.type = 'checkout'
    GROUP BY e.user_id, e.day
),
present_days AS (
    SELECT d.user_id, count(*) AS n
    FROM daily d, params p
    WHERE d.total > make_interval(secs => p.min_hours * 3600)
      AND d.day IN (SELECT day FROM counted)
    GROUP BY d.user_id
)
SELECT count(*) FILTER (WHERE coalesce(pd.n, 0)::numeric / c.n > p.ratio),
       count(*) FILTER (WHERE NOT coalesce(pd.n, 0)::numeric / c.n > p.ratio)
FROM users u CROSS JOIN params p CROSS JOIN (SELECT count(*) AS n FROM counted) c
LEFT JOIN present_days pd ON pd.user_id = u.id
WHERE u.school_id = p.school_id AND u.deleted_at IS NULL
"""


PHASES_SQL = """
SELECT r.created_at, r.started_at, r.finished_at,
       min(c.updated_at) FILTER (WHERE c.source = 'computed'),
       max(c.updated_at) FILTER (WHERE c.source = 'computed'),
       count(*) FILTER (WHERE c.source = 'computed')
FROM reports r JOIN report_chunks c ON c.report_id = r.id
WHERE r.id = %s GROUP BY r.id
"""


def report_phases(conn: psycopg.Connection, report_id: str) -> dict[str, float]:
    """Where a report's time went, from its rows: seconds from the request's report row."""
    created, planned, finished, first, last, computed = conn.execute(
        PHASES_SQL, (report_id,)
    ).fetchone()  # type: ignore[misc]
    return {
        "plan done": (planned - created).total_seconds(),
        "first chunk done": (first - created).total_seconds(),
        "last chunk done": (last - created).total_seconds(),
        "finished": (finished - created).total_seconds(),
        "chunks computed": computed,
    }


def run(cmd: list[str], env: dict[str, str]) -> None:
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def load(
    conn: psycopg.Connection,
    users: int,
    start: dt.date,
    end: dt.date,
    tz: str,
    lunch_rate: float,
    index: int = 0,
) -> tuple[int, int]:
    """One school, `users` pupils and their month of events, with COPY."""
    plan = generate.school_plans(index + 1, [tz], seed=42)[index]
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO schools (name, timezone, school_days, min_daily_hours, period_ratio,"
            " fever_threshold, generation, created_at, updated_at)"
            " VALUES (%s, %s, '[1,2,3,4,5]', 4, 0.8, 37.5, 0, now(), now()) RETURNING id",
            (plan.name, tz),
        )
        school_id = cur.fetchone()[0]  # type: ignore[index]
        for day in sorted(d for d in plan.closures if start <= d <= end):
            cur.execute("INSERT INTO closures (school_id, date) VALUES (%s, %s)", (school_id, day))
        names = generate.user_names(users, 42, index)
        ids = []
        for name in names:
            cur.execute(
                "INSERT INTO users (name, school_id, created_at, updated_at)"
                " VALUES (%s, %s, now(), now()) RETURNING id",
                (name, school_id),
            )
            ids.append(cur.fetchone()[0])  # type: ignore[index]
        # Each pupil is counted at the school (one open enrolment), as a created user is.
        cur.executemany(
            'INSERT INTO enrolments (user_id, school_id, "from", until, created_at)'
            " VALUES (%s, %s, NULL, NULL, now())",
            [(i, school_id) for i in ids],
        )
        count = 0
        events = generate.generate_school_events(
            plan, users, start, end, seed=42, school_index=index, lunch_rate=lunch_rate
        )
        with cur.copy(
            "COPY attendances (user_id, school_id, type, timestamp, temperature, received_at,"
            " idempotency_key) FROM STDIN"
        ) as copy:
            for e in tqdm(
                events,
                desc="loading events",
                unit="ev",
                total=round(generate.count_estimate(users, 21) * (1 + lunch_rate) / 1.15),
                disable=users < 1000,
            ):
                copy.write_row((ids[e.user_key], school_id, e.type, e.timestamp, e.temperature,
                                e.timestamp, e.client_event_id))  # fmt: skip
                count += 1
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
    return school_id, count


TOKEN = {"value": ""}


def get(url: str) -> tuple[int, dict, float]:
    began = time.perf_counter()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN['value']}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=300) as resp:  # noqa: S310 - loopback only
        body = json.load(resp)
        return resp.status, body["data"], time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--month", default="2026-10", help="a past month, YYYY-MM")
    parser.add_argument("--timezone", default="Europe/Berlin")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--lunch-rate",
        type=float,
        default=1.0,
        help="share of pupils going out for lunch (demo default 0.15: ~90,000 events)",
    )
    parser.add_argument(
        "--cold", type=int, default=5, help="rounds of one cold report and --repeat baselines"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="warm runs, and baseline runs per round"
    )
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--port", type=int, default=18_321)
    parser.add_argument(
        "--database",
        default="attendance_bench_aggregate",
        help="the database to (re)create on --pg (it is dropped first)",
    )
    args = parser.parse_args()

    year, month = map(int, args.month.split("-"))
    start = dt.date(year, month, 1)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    dbname = args.database
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {dbname}")
    url = f"{args.pg}/{dbname}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": args.redis}
    subprocess.run(
        ["redis-cli", "-u", args.redis, "flushdb"], check=True, stdout=subprocess.DEVNULL
    )
    run([sys.executable, "-m", "flask", "--app", "attendance", "db", "upgrade"], env)
    minted = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "attendance", "token", "create",
         "--role", "district", "--name", "bench-aggregate"],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    TOKEN["value"] = minted.stdout.strip().splitlines()[-1]

    with psycopg.connect(url) as conn:
        began = time.perf_counter()
        school_id, events = load(conn, args.users, start, end, args.timezone, args.lunch_rate)
        warmup_id, _ = load(conn, 50, start, end, args.timezone, args.lunch_rate, index=1)
        took = time.perf_counter() - began
        print(f"loaded {events:,} events for {args.users:,} users in {took:.1f}s")
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM closures WHERE school_id = %s", (school_id,))
            closures = cur.fetchone()[0]  # type: ignore[index]

    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{args.port}",
                "wsgi:app",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
    ] + [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "attendance",
                "worker",
                "--name",
                f"bench-{i}",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for i in range(args.workers)
    ]
    try:
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)  # let the workers register
        report = (
            f"{base}/api/attendances/aggregate/school/{school_id}?from={start}&to={end}&wait=60"
        )
        warmup = report.replace(f"school/{school_id}?", f"school/{warmup_id}?")
        for granularity in ("month", "week", "day", "month"):
            get(f"{warmup}&granularity={granularity}")

        # Rounds alternate the cold report and the baseline, so that both see the same
        # machine (a shared machine's speed drifts over a minute).
        colds, baseline, figures = [], [], None
        phases: list[dict[str, float]] = []
        params = {"school": school_id, "tz": args.timezone, "start": start, "end": end,
                  "hours": 4, "ratio": 0.8}  # fmt: skip
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in tqdm(range(args.cold), desc="cold rounds", unit="round"):
                # Forget every figure of the school: its reports and its cached days.
                conn.execute("DELETE FROM reports WHERE school_id = %s", (school_id,))
                conn.execute("DELETE FROM day_summaries WHERE school_id = %s", (school_id,))
                status, cold_doc, took = get(report + "&granularity=month")
                if status != 200 or cold_doc["status"] != "finished":
                    raise SystemExit(f"cold report did not finish: {cold_doc}")
                colds.append(took)
                phases.append(report_phases(conn, cold_doc["report_id"]))
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    figures = conn.execute(BASELINE_SQL, params).fetchone()
                    baseline.append(time.perf_counter() - began)
        cold = statistics.median(colds)
        warm = [get(report + "&granularity=month")[2] for _ in range(args.repeat)]
        status, week_doc, by_week = get(report + "&granularity=week")
        if status != 200 or week_doc["status"] != "finished":
            raise SystemExit(f"week report did not finish: {week_doc}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)

    service = (cold_doc["presences"], cold_doc["absences"])
    base_s = statistics.median(baseline)
    warm_s = statistics.median(warm)
    print()
    print(f"month {start}..{end}, {args.timezone}, {args.users:,} users, {events:,} events, "
          f"{cold_doc['buckets'][0]['counted_days']} counted days ({closures} closures), "
          f"{args.workers} workers")  # fmt: skip
    print(f"{'measure':<50}{'seconds':>10}{'x baseline':>12}")
    rows = [
        ("baseline: one SQL statement (median of all rounds)", base_s),
        ("cold month report, HTTP to document (median)", cold),
        ("warm repeat (median)", warm_s),
        ("same month by week, days from the cache", by_week),
    ]
    for label, seconds in rows:
        print(f"{label:<50}{seconds:>10.3f}{seconds / base_s:>12.2f}")
    print(f"cold runs: {', '.join(f'{c:.3f}' for c in colds)} s")
    per_round = [
        colds[i] / statistics.median(baseline[i * args.repeat : (i + 1) * args.repeat])
        for i in range(len(colds))
    ]
    print(f"cold / baseline by round: {', '.join(f'{r:.2f}' for r in per_round)}")
    print("cold report phases (median over rounds, seconds after the report row was made):")
    for key in phases[0]:
        value = statistics.median(p[key] for p in phases)
        print(
            f"  {key:<18}{value:>8.3f}" if key != "chunks computed" else f"  {key:<18}{value:>8.0f}"
        )
    print(f"figures: service present/absent = {service}, SQL baseline = {tuple(figures or ())}")
    if tuple(figures or ()) != service:
        print("MISMATCH between the service and the SQL baseline", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
