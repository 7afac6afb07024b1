"""Benchmark: a district of 500 schools x 200 pupils, its overview and its month report.

    make bench-district            # or: python tools/bench_district.py --schools 100

Builds the district in a fresh PostgreSQL database (attendance_bench_district, dropped
first; Redis DB 13, flushed) with INSERT ... SELECT over generate_series: the schools, their
pupils (one open enrolment each), a past month of school days (most pupils in for 4 to 8
hours, some short days, some never checking out, some absent) and this morning's
check-ins (most pupils in now, a few already gone). Then, through gunicorn with the
project's gunicorn.conf.py and `flask worker` processes, in one run:

- the overview `/dashboard/` (a signed-in district admin): the first load after the
  server starts and repeated loads, against one SQL statement computing every school's
  enrolled and in-school-now counts; the page's figures must equal the statement's;
- the district month report `GET /api/attendances/aggregate/district`, cold (no report,
  no cached day), warm (a new report, every past day from the per-(school, date) cache)
  and repeated (the finished report of unchanged past data), for each --workers count,
  against one SQL statement over the same rows computing each school's presences and
  absences; every school's figures must equal the statement's;
- in-process, one date of every school decided in one pass against the same date decided
  school by school (what a chunk per school x date would cost, before any job overhead).

It prints a table and exits 1 when a figure disagrees.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.cookiejar
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-district-password"  # noqa: S105 - a throwaway benchmark database
EMAIL = "bench@example.org"
TIMEZONES = ("Europe/Berlin", "Europe/London")

SCHEMA_SQL = """
INSERT INTO schools (name, timezone, school_days, min_daily_hours, period_ratio,
                     fever_threshold, chronic_ratio, chronic_min_days, generation,
                     created_at, updated_at)
SELECT format('School %%s', lpad(i::text, 4, '0')), (%(zones)s::text[])[1 + i %% 2],
       '[1,2,3,4,5]', 4, 0.8, 37.5, 0.1, 10, 0, now(), now()
FROM generate_series(1, %(schools)s) AS i;

INSERT INTO users (name, school_id, "group", created_at, updated_at)
SELECT format('Pupil %%s-%%s', s.id, j), s.id, format('%%sA', 1 + j %% 6), now(), now()
FROM schools s CROSS JOIN generate_series(1, %(pupils)s) AS j;

INSERT INTO enrolments (user_id, school_id, "from", until, created_at)
SELECT id, school_id, NULL, NULL, now() FROM users;
"""

# A past month: each pupil and school day hashed to a number; about 8% absent, 3% never
# checking out, the rest in at 07:30-08:15 local for 3 to 8.5 hours (short days absent).
MONTH_SQL = """
WITH days AS (
    SELECT d::date AS day FROM generate_series(%(start)s::date, %(end)s::date, '1 day') d
    WHERE extract(isodow FROM d) < 6
),
pupil_days AS (
    SELECT u.id AS user_id, u.school_id, s.timezone, days.day,
           abs(hashtext(u.id || ':' || days.day)) AS h
    FROM users u JOIN schools s ON s.id = u.school_id CROSS JOIN days
),
ins AS (
    SELECT user_id, school_id, h,
           ((day + time '07:30' + (h %% 45) * interval '1 minute') AT TIME ZONE timezone) AS ts
    FROM pupil_days WHERE h %% 100 >= 8
)
INSERT INTO attendances (user_id, school_id, type, timestamp, temperature, received_at)
SELECT user_id, school_id, 'checkin', ts, CASE WHEN h %% 997 = 0 THEN 38.2 ELSE 36.6 END, ts
FROM ins
UNION ALL
SELECT user_id, school_id, 'checkout',
       ts + (180 + (h / 100) %% 330) * interval '1 minute', 36.6,
       ts + (180 + (h / 100) %% 330) * interval '1 minute'
FROM ins WHERE (h / 7) %% 100 >= 3;
"""

# This morning, whatever the hour: each pupil's check-in lies between the later of local
# midnight and four hours ago, and now; about 8% are not in, 5% came and left again.
TODAY_SQL = """
WITH pupils AS (
    SELECT u.id AS user_id, u.school_id, abs(hashtext(u.id || ':today')) AS h,
           least(%(now)s - ((%(now)s AT TIME ZONE s.timezone)::date::timestamp
                            AT TIME ZONE s.timezone), interval '4 hours') AS span
    FROM users u JOIN schools s ON s.id = u.school_id
),
ins AS (
    SELECT user_id, school_id, h,
           %(now)s - interval '1 minute' - span * ((h %% 1000) / 1000.0) * 0.9 AS ts
    FROM pupils WHERE h %% 100 >= 8
)
INSERT INTO attendances (user_id, school_id, type, timestamp, temperature, received_at)
SELECT user_id, school_id, 'checkin', ts, CASE WHEN h %% 211 = 0 THEN 38.4 ELSE 36.5 END, ts
FROM ins
UNION ALL
SELECT user_id, school_id, 'checkout', ts + (%(now)s - ts) / 2, 36.5, ts + (%(now)s - ts) / 2
FROM ins WHERE (h / 13) %% 100 < 5;
"""

# Every school's today in one statement: enrolled, and in school now (their last event of
# the day a check-in). In this data nobody has finished 4 hours today, so present = in now.
TODAY_BASELINE_SQL = """
WITH t AS (
    SELECT id AS school_id, timezone AS tz, (%(now)s AT TIME ZONE timezone)::date AS day
    FROM schools
),
last_event AS (
    SELECT DISTINCT ON (a.user_id) a.school_id, a.user_id, a.type
    FROM attendances a JOIN t ON t.school_id = a.school_id
    WHERE a.timestamp >= (t.day::timestamp AT TIME ZONE t.tz)
      AND a.timestamp < ((t.day + 1)::timestamp AT TIME ZONE t.tz)
      AND a.timestamp <= %(now)s
    ORDER BY a.user_id, a.timestamp DESC, a.id DESC
),
enrolled AS (
    SELECT e.school_id, count(*) AS n FROM enrolments e JOIN t ON t.school_id = e.school_id
    WHERE (e."from" IS NULL OR e."from" <= t.day) AND (e.until IS NULL OR e.until >= t.day)
    GROUP BY e.school_id
),
inside AS (
    SELECT school_id, count(*) AS n FROM last_event WHERE type = 'checkin' GROUP BY school_id
)
SELECT t.school_id, coalesce(enrolled.n, 0), coalesce(inside.n, 0)
FROM t LEFT JOIN enrolled USING (school_id) LEFT JOIN inside USING (school_id)
ORDER BY t.school_id
"""

# Every school's presences and absences over a past range (presence.md rules 2 to 5 for
# this data: open enrolments, no marks), in one statement; the pairing as in
# tools/bench_aggregate.py: a checkout closes a session iff a checkin came after the
# previous checkout (of that user and local day).
MONTH_BASELINE_SQL = """
WITH sch AS (
    SELECT id AS school_id, timezone AS tz, min_daily_hours AS min_hours,
           period_ratio AS ratio, school_days FROM schools
),
counted AS (
    SELECT sch.school_id, d::date AS day
    FROM sch, generate_series(%(start)s::date, %(end)s::date, interval '1 day') AS d
    WHERE extract(isodow FROM d)::int IN (
            SELECT jsonb_array_elements_text(sch.school_days::jsonb)::int)
      AND NOT EXISTS (SELECT 1 FROM closures c
                      WHERE c.school_id = sch.school_id AND c.date = d::date)
),
ncounted AS (SELECT school_id, count(*) AS n FROM counted GROUP BY school_id),
ev AS (
    SELECT a.school_id, a.user_id, (a.timestamp AT TIME ZONE sch.tz)::date AS day,
           a.timestamp AS ts, a.type,
           coalesce(sum((a.type = 'checkout')::int) OVER w_before, 0) AS run
    FROM attendances a JOIN sch ON sch.school_id = a.school_id
    WHERE a.timestamp >= (%(start)s::date::timestamp AT TIME ZONE sch.tz)
      AND a.timestamp < ((%(end)s::date + 1)::timestamp AT TIME ZONE sch.tz)
    WINDOW w_before AS (PARTITION BY a.user_id, (a.timestamp AT TIME ZONE sch.tz)::date
                        ORDER BY a.timestamp, a.id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
opened AS (
    SELECT school_id, user_id, day, run, min(ts) AS open_at
    FROM ev WHERE type = 'checkin' GROUP BY school_id, user_id, day, run
),
daily AS (
    SELECT e.school_id, e.user_id, e.day, sum(e.ts - o.open_at) AS total
    FROM ev e JOIN opened o USING (school_id, user_id, day, run)
    WHERE e.type = 'checkout'
    GROUP BY e.school_id, e.user_id, e.day
),
present_days AS (
    SELECT d.school_id, d.user_id, count(*) AS n
    FROM daily d JOIN sch USING (school_id)
    JOIN counted c ON c.school_id = d.school_id AND c.day = d.day
    WHERE d.total > make_interval(secs => sch.min_hours * 3600)
    GROUP BY d.school_id, d.user_id
)
SELECT sch.school_id, count(*),
       count(*) FILTER (WHERE coalesce(pd.n, 0)::numeric / nc.n > sch.ratio),
       count(*) FILTER (WHERE NOT coalesce(pd.n, 0)::numeric / nc.n > sch.ratio)
FROM enrolments en JOIN sch ON sch.school_id = en.school_id
JOIN ncounted nc ON nc.school_id = sch.school_id
LEFT JOIN present_days pd ON pd.school_id = en.school_id AND pd.user_id = en.user_id
GROUP BY sch.school_id ORDER BY sch.school_id
"""


def timed(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> tuple[list[Any], float]:
    began = time.perf_counter()
    rows = conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
    return rows, time.perf_counter() - began


def build(
    url: str, schools: int, pupils: int, start: dt.date, end: dt.date, now: dt.datetime
) -> int:
    """The district's rows; returns the number of events."""
    with psycopg.connect(url) as conn:
        params = {"schools": schools, "pupils": pupils, "zones": list(TIMEZONES),
                  "start": start, "end": end, "now": now}  # fmt: skip
        # Bulk load: no foreign-key triggers (the rows are made consistent above), and the
        # events' secondary indexes built once afterwards rather than row by row.
        conn.execute("SET session_replication_role = replica")
        indexes = [
            (name, definition)
            for name, definition in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'attendances'"
                " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
        ]
        for name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for label, sql in (("schools, pupils", SCHEMA_SQL), ("the month", MONTH_SQL),
                           ("this morning", TODAY_SQL), ("indexes", "")):  # fmt: skip
            began = time.perf_counter()
            if label == "indexes":
                for _name, definition in indexes:
                    # pg_indexes writes a partitioned table's as `ON ONLY`: the parent alone.
                    conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement, params)  # type: ignore[arg-type]
            conn.commit()
            print(f"  built {label} in {time.perf_counter() - began:.1f} s", flush=True)
        conn.execute("ANALYZE")
        conn.commit()
        return int(conn.execute("SELECT count(*) FROM attendances").fetchone()[0])  # type: ignore[index]


class Client:
    """A loopback HTTP client with cookies (the dashboard) and a bearer token (the API)."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str, api: bool = False) -> tuple[int, bytes, float]:
        headers = {"Authorization": f"Bearer {self.token}"} if api else {}
        request = urllib.request.Request(self.base + path, headers=headers)  # noqa: S310
        began = time.perf_counter()
        with self.opener.open(request, timeout=300) as resp:
            body = resp.read()
            return resp.status, body, time.perf_counter() - began

    def login(self) -> None:
        _status, page, _took = self.get("/dashboard/login")
        match = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        if match is None:
            raise SystemExit("no CSRF token on the login page")
        form = {"email": EMAIL, "password": PASSWORD, "csrf_token": match.group(1).decode()}
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.base + "/dashboard/login", data=data)  # noqa: S310
        with self.opener.open(request, timeout=60) as resp:
            if "/login" in resp.url:
                raise SystemExit("the benchmark admin could not sign in")

    def report(self, path: str) -> tuple[dict[str, Any], float]:
        """A report's finished document (polling /api/reports/:id) and the time it took."""
        began = time.perf_counter()
        status, body, _took = self.get(path, api=True)
        doc = json.loads(body)["data"]
        while doc["status"] not in ("finished", "failed"):
            _status, body, _took = self.get(f"/api/reports/{doc['report_id']}?wait=30", api=True)
            doc = json.loads(body)["data"]
        if doc["status"] != "finished":
            raise SystemExit(f"the report failed: {doc.get('error')}")
        return doc, time.perf_counter() - began


def overview_figures(page: bytes) -> dict[int, tuple[int, int, int]]:
    """(enrolled, in school now, present) of each school row of the overview page."""
    found = {}
    text = page.decode()
    for school_id, row in re.findall(r'data-school-id="(\d+)"(.*?)</tr>', text, re.S):
        cells = dict(re.findall(r'data-field="(\w+)">\s*(.*?)\s*</td>', row, re.S))
        found[int(school_id)] = (
            int(cells["enrolled"]),
            int(cells["in_school"]),
            int(cells["present"]),
        )
    return found


@contextlib.contextmanager
def processes(env: dict[str, str], port: int, workers: int) -> Iterator[str]:
    """gunicorn (gunicorn.conf.py) and `workers` report workers; yields the base URL."""
    web = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    logs = tempfile.TemporaryFile("w+")
    procs = [subprocess.Popen(web, cwd=ROOT, env={**env, "PORT": str(port), "HOST": "127.0.0.1"},
                              stdout=logs, stderr=subprocess.STDOUT)]  # fmt: skip
    for i in range(workers):
        command = [sys.executable, "-m", "flask", "--app", "attendance", "worker",
                   "--name", f"bench-district-{i}"]  # fmt: skip
        procs.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT)
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline or procs[0].poll() is not None:
                logs.seek(0)
                raise SystemExit("the server did not start:\n" + logs.read()[-3000:])
            time.sleep(0.2)
        time.sleep(1.0)  # let the workers register
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


SNAPSHOT_KEY = "attendance:overview"


def wait_for_snapshot(redis_url: str, timeout: float = 300) -> float:
    """Seconds until the workers have stored the overview's snapshot."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        found = subprocess.run(["redis-cli", "-u", redis_url, "exists", SNAPSHOT_KEY],
                               check=True, capture_output=True, text=True)  # fmt: skip
        if found.stdout.strip() == "1":
            return time.perf_counter() - began
        time.sleep(0.5)
    raise SystemExit("the workers stored no overview snapshot")


def one_pass_vs_per_school(env: dict[str, str], day: dt.date, sample: int) -> tuple[float, float]:
    """In-process: one date of every school decided in one pass, and `sample` schools decided
    one at a time (seconds for all of them, extrapolated from the sample)."""
    os.environ.update(env)
    from attendance import create_app
    from attendance.services import district
    from attendance.services.reports import rules_for

    app = create_app()
    with app.app_context():
        schools = district.all_schools()
        rules = {s.id: rules_for(s) for s in schools}
        now = dt.datetime.now(dt.UTC)
        began = time.perf_counter()
        district.decide(schools, {s.id: day for s in schools}, rules, now)
        together = time.perf_counter() - began
        began = time.perf_counter()
        for school in schools[:sample]:
            district.decide([school], {school.id: day}, rules, now)
        alone = (time.perf_counter() - began) / sample * len(schools)
        district.db.session.remove()
    return together, alone


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schools", type=int, default=500)
    parser.add_argument("--pupils", type=int, default=200)
    parser.add_argument("--month", default="", help="a past month, YYYY-MM (default: the last)")
    parser.add_argument("--workers", default="1,2", help="worker counts to run the month with")
    parser.add_argument("--repeat", type=int, default=5, help="repeated loads and baselines")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="attendance_bench_district")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--port", type=int, default=5813)
    parser.add_argument("--skip-month", action="store_true", help="time the overview only")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database of an earlier run today (its check-ins are of its morning)",
    )
    args = parser.parse_args()

    now = dt.datetime.now(dt.UTC)
    if args.month:
        year, month = map(int, args.month.split("-"))
        start = dt.date(year, month, 1)
    else:
        start = (now.date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    if "bench" not in args.database:
        raise SystemExit("the database's name must contain 'bench': it is dropped first")
    url = f"{args.pg}/{args.database}"
    if not args.reuse:
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {args.database}")
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": args.redis, "LOG_LEVEL": "WARNING",
           "WEB_CONCURRENCY": "2"}  # fmt: skip
    subprocess.run(
        ["redis-cli", "-u", args.redis, "flushdb"], check=True, stdout=subprocess.DEVNULL
    )
    flask = [sys.executable, "-m", "flask", "--app", "attendance"]
    if args.reuse:
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM reports WHERE school_id IS NULL")
            conn.execute("DELETE FROM api_tokens")
            conn.execute("DELETE FROM admins")
            events = int(conn.execute("SELECT count(*) FROM attendances").fetchone()[0])  # type: ignore[index]
    subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    # The past month gets its partition before the load, not the default one (as an
    # operator loading history would: docs/operations.md#partitions).
    subprocess.run([*flask, "partitions", "ensure", "--from", f"{start:%Y-%m}"], env=env,
                   cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    token = subprocess.run(
        [*flask, "token", "create", "--role", "district", "--name", "bench-district"],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    subprocess.run([*flask, "admin", "create", "--email", EMAIL, "--role", "district"],
                   input=PASSWORD + "\n", env=env, cwd=ROOT, check=True, capture_output=True,
                   text=True)  # fmt: skip

    if not args.reuse:
        print(f"building {args.schools} schools x {args.pupils} pupils, {start}..{end} and today")
        began = time.perf_counter()
        events = build(url, args.schools, args.pupils, start, end, now)
        print(f"  {events:,} events in {time.perf_counter() - began:.1f} s")

    rows: list[tuple[str, float, float | None]] = []
    mismatches: list[str] = []
    counts = [int(n) for n in args.workers.split(",")]
    month_path = (
        f"/api/attendances/aggregate/district?from={start}&to={end}&granularity=month&wait=30"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        for n_workers in counts:
            with processes(env, args.port, n_workers) as base:
                client = Client(base, token)
                if n_workers == counts[0]:
                    client.login()
                    # The workers keep a snapshot of every school's today (computed in one
                    # pass every OVERVIEW_REFRESH seconds): the page's first load finds it.
                    waited = wait_for_snapshot(args.redis)
                    _s, page, first = client.get("/dashboard/")
                    repeats = [client.get("/dashboard/")[2] for _ in range(args.repeat)]
                    # Without a snapshot (Redis emptied), the page computes the pass itself.
                    subprocess.run(["redis-cli", "-u", args.redis, "del", SNAPSHOT_KEY],
                                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                    _s, _page, inline = client.get("/dashboard/")
                    baseline, base_s = [], []
                    for _ in range(args.repeat):
                        found, took = timed(
                            conn, TODAY_BASELINE_SQL, {"now": dt.datetime.now(dt.UTC)}
                        )
                        baseline, base_s = found, [*base_s, took]
                    base_today = statistics.median(base_s)
                    rows.append(("baseline: today's counts, one SQL statement", base_today, 1.0))
                    rows.append(("overview /dashboard/, first load", first, first / base_today))
                    rep = statistics.median(repeats)
                    rows.append((f"overview, repeated loads (median of {args.repeat})", rep,
                                 rep / base_today))  # fmt: skip
                    rows.append(("overview without a snapshot: the pass in the request", inline,
                                 inline / base_today))  # fmt: skip
                    rows.append(("(server start to the workers' first snapshot)", waited, None))
                    shown = overview_figures(page)
                    expected = {sid: (n, inside, inside) for sid, n, inside in baseline}
                    if shown != expected:
                        bad = [s for s in expected if shown.get(s) != expected[s]][:5]
                        mismatches.append(f"overview differs from the SQL at schools {bad}")
                if args.skip_month:
                    continue
                conn.execute("DELETE FROM reports WHERE school_id IS NULL")
                conn.execute("DELETE FROM day_summaries")
                doc, cold = client.report(month_path)
                conn.execute("DELETE FROM reports WHERE school_id IS NULL")
                warm_doc, warm = client.report(month_path)
                _doc, repeat = client.report(month_path)
                if n_workers == counts[0]:
                    month_rows, took = timed(conn, MONTH_BASELINE_SQL, {"start": start, "end": end})
                    base_month = [took] + [
                        timed(conn, MONTH_BASELINE_SQL, {"start": start, "end": end})[1]
                        for _ in range(2)
                    ]
                    base_m = statistics.median(base_month)
                    rows.append(("baseline: the month of every school, one SQL statement",
                                 base_m, 1.0))  # fmt: skip
                    expected_m = {sid: (n, p, a) for sid, n, p, a in month_rows}
                label = f"{n_workers} worker{'s' if n_workers > 1 else ''}"
                rows.append((f"district month, cold ({label})", cold, cold / base_m))
                rows.append((f"district month, warm: days from the cache ({label})", warm,
                             warm / base_m))  # fmt: skip
                rows.append((f"district month, repeated ({label})", repeat, repeat / base_m))
                for d in (doc, warm_doc):
                    got = {s["school_id"]: (s["enrolled"], s["presences"], s["absences"])
                           for s in d["schools"]}  # fmt: skip
                    if got != expected_m:
                        bad = [s for s in expected_m if got.get(s) != expected_m[s]][:5]
                        mismatches.append(f"month report differs from the SQL at schools {bad}")
                    totals = tuple(sum(v[i] for v in expected_m.values()) for i in range(3))
                    if (d["enrolled"], d["presences"], d["absences"]) != totals:
                        mismatches.append("month totals differ from the SQL")

    together, alone = one_pass_vs_per_school(
        env, start + dt.timedelta(days=(7 - start.isoweekday()) % 7 + 1), 25
    )
    rows.append(("one date of every school, one pass (in-process)", together, None))
    rows.append(("the same date school by school (25 timed, scaled)", alone, None))

    print()
    print(f"{args.schools} schools x {args.pupils} pupils, {events:,} events; month {start}..{end}")
    print(f"| {'measure':<58} | {'seconds':>8} | {'x baseline':>10} |")
    print(f"|{'-' * 60}|{'-' * 10}:|{'-' * 11}:|")
    for label, seconds, ratio in rows:
        shown = "" if ratio is None else f"{ratio:.1f}"
        print(f"| {label:<58} | {seconds:>8.3f} | {shown:>10} |")
    print("figures: " + ("; ".join(mismatches) if mismatches else "the service equals the SQL"))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
