"""Benchmark: reports through the pipeline vs one hand-written SQL statement each.

    make bench-aggregate            # or: python tools/bench_aggregate.py --users 2000
    python tools/bench_aggregate.py --case year     # one case only: month or year

Starts gunicorn and 2 `flask worker` processes on Redis over a fresh PostgreSQL database,
then times two cases, each beside a baseline measured in the same rounds (a shared
machine's speed drifts over a minute):

month: a realistic month (the demo generator: 2,000 pupils of one open-campus school,
where pupils go out for lunch: about 150,000 events over 21 school days):

- cold: HTTP request to finished document, nothing cached (median of --cold rounds; before
  each, the school's reports and cached days are deleted; each round also times the
  baseline);
- warm: the same request again;
- day cache: the same month by week (every past day comes from the per-day cache);
- baseline: the month's present/absent as one SQL statement with window functions.

year: a school year, September to June, of another school of 2,000 pupils with school
life (enrolments, marks, day_end, late_after; tools/bench_year.py): about 1.45 million
events over 196 school days, by month, cold, without and with `users=true`, against one
statement for the buckets and one for the per-pupil figures (--year-rounds rounds).

history (`--case history`, not part of the default run): two more databases
(`--database` with `_1y` and `_3y`), one school of 2,000 pupils with school life in each:
one school year of events (about 1.4 million) in the first, the same year and the two
before it (about 4.4 million) in the second, each served by its own gunicorn and workers.
Alternating rounds time, in both, the cold report of one month (`--history-month`) and the
month's buckets in one SQL statement. With the events partitioned by month on PostgreSQL,
the report reads the month's partitions only, so it costs the same in both.

Before timing, a small third school's month is computed once, so every process has
connected and loaded its code: "cold" means no figures cached, not processes starting.
The baselines and the service must agree on every figure, or the run fails.
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
from tools import bench_year  # noqa: E402

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
    return school_id, count


TOKEN = {"value": ""}


def get(url: str) -> tuple[int, dict, float]:
    began = time.perf_counter()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN['value']}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=300) as resp:  # noqa: S310 - loopback only
        body = json.load(resp)
        return resp.status, body["data"], time.perf_counter() - began


def finished(url: str, base: str) -> tuple[dict, float]:
    """Request a report and follow it to its end: the document and the seconds it took."""
    began = time.perf_counter()
    _, doc, _ = get(url)
    while doc["status"] in ("queued", "running"):
        _, doc, _ = get(f"{base}/api/reports/{doc['report_id']}?wait=20")
    took = time.perf_counter() - began
    if doc["status"] != "finished":
        raise SystemExit(f"report did not finish: {doc}")
    return doc, took


def forget(conn: psycopg.Connection, school_id: int) -> None:
    """Forget every figure of the school: its reports and its cached days."""
    conn.execute("DELETE FROM reports WHERE school_id = %s", (school_id,))
    conn.execute("DELETE FROM day_summaries WHERE school_id = %s", (school_id,))


def timed(conn: psycopg.Connection, sql: str, params: dict) -> tuple[list[tuple], float]:
    began = time.perf_counter()
    rows = conn.execute(sql, params).fetchall()
    return rows, time.perf_counter() - began


def print_phases(phases: list[dict[str, float]]) -> None:
    """Where the cold reports' time went (median over rounds)."""
    for key in phases[0]:
        value = statistics.median(p[key] for p in phases)
        print(
            f"  {key:<18}{value:>8.3f}" if key != "chunks computed" else f"  {key:<18}{value:>8.0f}"
        )


def month_case(args: argparse.Namespace, url: str, base: str, school: dict) -> bool:
    """The month: cold rounds beside the baseline, warm, by week from the day cache."""
    school_id, start, end = school["id"], school["start"], school["end"]
    report = f"{base}/api/attendances/aggregate/school/{school_id}?from={start}&to={end}&wait=20"
    # Rounds alternate the cold report and the baseline, so that both see the same
    # machine (a shared machine's speed drifts over a minute).
    colds, baseline, figures = [], [], None
    phases: list[dict[str, float]] = []
    params = {"school": school_id, "tz": args.timezone, "start": start, "end": end,
              "hours": 4, "ratio": 0.8}  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in tqdm(range(args.cold), desc="month: cold rounds", unit="round"):
            forget(conn, school_id)
            cold_doc, took = finished(report + "&granularity=month", base)
            colds.append(took)
            phases.append(report_phases(conn, cold_doc["report_id"]))
            for _ in range(args.repeat):
                began = time.perf_counter()
                figures = conn.execute(BASELINE_SQL, params).fetchone()
                baseline.append(time.perf_counter() - began)
    cold = statistics.median(colds)
    warm = [get(report + "&granularity=month")[2] for _ in range(args.repeat)]
    _, by_week = finished(report + "&granularity=week", base)

    service = (cold_doc["presences"], cold_doc["absences"])
    base_s = statistics.median(baseline)
    warm_s = statistics.median(warm)
    print()
    print(f"month {start}..{end}, {args.timezone}, {args.users:,} users, "
          f"{school['events']:,} events, {cold_doc['buckets'][0]['counted_days']} counted days "
          f"({school['closures']} closures), {args.workers} workers")  # fmt: skip
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
    print_phases(phases)
    print(f"figures: service present/absent = {service}, SQL baseline = {tuple(figures or ())}")
    met = cold / base_s <= 2 and warm_s / base_s < 0.1
    print(f"targets: cold <= 2x baseline, warm < 0.1x: {'met' if met else 'NOT MET'}")
    if tuple(figures or ()) != service:
        print("MISMATCH between the service and the SQL baseline", file=sys.stderr)
        return False
    return True


def year_case(args: argparse.Namespace, url: str, base: str, school: dict) -> bool:
    """The school year by month, cold, without and with users=true, beside its baselines."""
    school_id, start, end = school["id"], school["start"], school["end"]
    report = (
        f"{base}/api/attendances/aggregate/school/{school_id}?from={start}&to={end}"
        "&granularity=month&wait=20"
    )
    params = bench_year.sql_params(school_id, start, end, args.timezone)
    cold: dict[bool, list[float]] = {False: [], True: []}
    docs: dict[bool, dict] = {}
    phases: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    base_b: list[float] = []
    base_u: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in tqdm(range(args.year_rounds), desc="year: cold rounds", unit="round"):
            # Alternate which goes first, and time the baselines between them.
            first, second = (False, True) if i % 2 == 0 else (True, False)
            for with_users in (first, None, second):
                if with_users is None:
                    buckets, took = timed(conn, bench_year.BUCKETS_SQL, params)
                    base_b.append(took)
                    users, took = timed(conn, bench_year.USERS_SQL, params)
                    base_u.append(took)
                    continue
                forget(conn, school_id)
                doc, took = finished(report + ("&users=true" if with_users else ""), base)
                cold[with_users].append(took)
                docs[with_users] = doc
                phases[with_users].append(report_phases(conn, doc["report_id"]))
        # The last cold report left every date in the day cache.
        _, by_week = finished(report.replace("granularity=month", "granularity=week"), base)

    plain, listed = statistics.median(cold[False]), statistics.median(cold[True])
    b_s, u_s = statistics.median(base_b), statistics.median(base_u)
    doc = docs[False]
    print()
    print(f"school year {start}..{end} by month, {args.timezone}, {args.users:,} pupils, "
          f"{school['events']:,} events, {school['marks']:,} mark entries, "
          f"{sum(b['counted_days'] for b in doc['buckets'])} counted days, "
          f"{args.workers} workers")  # fmt: skip
    print(f"{'measure':<52}{'seconds':>10}{'x baseline':>12}")
    for label, seconds, against in [
        ("baseline: buckets, one SQL statement (median)", b_s, b_s),
        ("baseline: per-pupil figures, one statement (median)", u_s, b_s),
        ("cold year report, HTTP to document (median)", plain, b_s),
        ("cold year report with users=true (median)", listed, b_s),
        ("same year by week, days from the cache", by_week, b_s),
    ]:
        print(f"{label:<52}{seconds:>10.3f}{against and seconds / against:>12.2f}")
    by_round = [c / b for c, b in zip(cold[False], base_b, strict=True)]
    users_round = [c / b for c, b in zip(cold[True], cold[False], strict=True)]
    print(f"cold runs: {', '.join(f'{c:.2f}' for c in cold[False])} s; with users=true: "
          f"{', '.join(f'{c:.2f}' for c in cold[True])} s")  # fmt: skip
    print(f"cold / baseline by round: {', '.join(f'{r:.2f}' for r in by_round)}")
    print(f"users=true / without, by round: {', '.join(f'{r:.2f}' for r in users_round)}")
    for with_users in (False, True):
        print(f"cold report phases{' with users=true' if with_users else ''} (median, seconds):")
        print_phases(phases[with_users])
    # The targets on the rounds' own ratios: two rounds' reports minutes apart on a shared
    # machine differ more than what users=true adds.
    ratio, extra = statistics.median(by_round), statistics.median(users_round) - 1
    met = ratio < 3 and extra <= 0.25
    print(f"targets, medians by round: cold < 3x baseline ({ratio:.2f}x), users=true "
          f"adds <= 25% ({extra:+.0%}): {'met' if met else 'NOT MET'}")  # fmt: skip
    wrong = (
        bench_year.differences("buckets", bench_year.service_buckets(doc), buckets)
        + bench_year.differences(
            "users=true buckets", bench_year.service_buckets(docs[True]), buckets
        )  # fmt: skip
        + bench_year.differences("users", bench_year.service_users(docs[True]), users)
    )
    overall = bench_year.service_buckets(doc)[-1]
    print(
        f"figures: enrolled/present/absent/chronic = {overall[2:]} over {len(users):,} "
        f"pupils listed; the service's equal the baselines': {'yes' if not wrong else 'NO'}"
    )
    for line in wrong:
        print(f"MISMATCH {line}", file=sys.stderr)
    return not wrong


HISTORY = (("1 year", 1), ("3 years", 3))


def history_main(args: argparse.Namespace) -> int:
    """The history case: two databases, one school each, with one school year of events
    and with three; the month's cold report and baseline timed on both in alternating
    rounds, each database with its own gunicorn and workers (and RQ queue)."""
    y0, y1 = bench_year.year_range(args.school_year)
    h_year, h_month = map(int, args.history_month.split("-"))
    start = dt.date(h_year, h_month, 1)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    subprocess.run(
        ["redis-cli", "-u", args.redis, "flushdb"], check=True, stdout=subprocess.DEVNULL
    )
    stacks: dict[str, dict] = {}
    procs: list[subprocess.Popen] = []
    ok = True
    try:
        for n, (label, years) in enumerate(HISTORY):
            url = fresh_database(args, f"{args.database}_{years}y")
            env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": args.redis,
                   "ATTENDANCE_RQ_QUEUES": json.dumps([f"history{years}"])}  # fmt: skip
            token = migrate_and_mint(env)
            first, _ = bench_year.year_range(args.school_year - years + 1)
            ensure_partitions(url, first)
            began = time.perf_counter()
            events = 0
            with psycopg.connect(url) as conn, bench_year.bare(conn, "attendances"):
                school_id, events, _ = bench_year.load_year(
                    conn, args.users, y0, y1, args.timezone, args.lunch_rate, index=3
                )
                for year in range(args.school_year - years + 1, args.school_year):
                    added, _ = bench_year.load_events(
                        conn, school_id, *bench_year.year_range(year), args.timezone,
                        args.lunch_rate,
                    )  # fmt: skip
                    events += added
            print(f"history, {label}: loaded {events:,} events in "
                  f"{time.perf_counter() - began:.1f}s, indexes and VACUUM ANALYZE "
                  "included")  # fmt: skip
            port = args.port + 10 * n
            procs += start_stack(env, port, args.workers, f"history{years}")
            stacks[label] = {"url": url, "base": f"http://127.0.0.1:{port}", "token": token,
                             "id": school_id, "events": events, "cold": [],
                             "baseline": []}  # fmt: skip
        for stack in stacks.values():
            wait_ready(stack["base"])
            TOKEN["value"] = stack["token"]
            # Warm the processes with the month before, then forget it.
            before = (start - dt.timedelta(days=1)).replace(day=1)
            warm = (f"{stack['base']}/api/attendances/aggregate/school/{stack['id']}"
                    f"?from={before}&to={start - dt.timedelta(days=1)}"
                    "&granularity=month&wait=20")  # fmt: skip
            finished(warm, stack["base"])
        ok = history_rounds(args, stacks, start, end)
    finally:
        stop_stack(procs)
    return 0 if ok else 1


def history_rounds(args: argparse.Namespace, stacks: dict, start: dt.date, end: dt.date) -> bool:
    """Alternating rounds: each round times both databases' cold report and baseline,
    in an order that rotates, so that both see the same machine."""
    docs: dict[str, dict] = {}
    rows: dict[str, list[tuple]] = {}
    conns = {label: psycopg.connect(stack["url"], autocommit=True)
             for label, stack in stacks.items()}  # fmt: skip
    steps = [(label, what) for label in stacks for what in ("report", "baseline")]
    try:
        for i in tqdm(range(args.history_rounds), desc="history: rounds", unit="round"):
            order = steps[i % len(steps) :] + steps[: i % len(steps)]
            for label, what in order:
                stack, conn = stacks[label], conns[label]
                if what == "baseline":
                    params = bench_year.sql_params(stack["id"], start, end, args.timezone)
                    rows[label], took = timed(conn, bench_year.BUCKETS_SQL, params)
                    stack["baseline"].append(took)
                    continue
                forget(conn, stack["id"])
                TOKEN["value"] = stack["token"]
                report = (f"{stack['base']}/api/attendances/aggregate/school/{stack['id']}"
                          f"?from={start}&to={end}&granularity=month&wait=20")  # fmt: skip
                docs[label], took = finished(report, stack["base"])
                stack["cold"].append(took)
    finally:
        for conn in conns.values():
            conn.close()

    one, three = stacks["1 year"], stacks["3 years"]
    print()
    print(f"history: the cold report of {start:%B %Y} for one school of {args.users:,} "
          f"pupils ({args.timezone}), {args.workers} workers per database, "
          f"{args.history_rounds} alternating rounds; load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'measure (median of the rounds)':<44}{'1 year':>10}{'3 years':>10}{'3y / 1y':>10}")
    print(f"{'events in the table':<44}{one['events']:>10,}{three['events']:>10,}"
          f"{three['events'] / one['events']:>10.2f}")  # fmt: skip
    for label, key in (("baseline: the month in one SQL statement, s", "baseline"),
                       ("cold month report, HTTP to document, s", "cold")):  # fmt: skip
        a, b = statistics.median(one[key]), statistics.median(three[key])
        print(f"{label:<44}{a:>10.3f}{b:>10.3f}{b / a:>10.2f}")
    by_round = [b / a for a, b in zip(one["cold"], three["cold"], strict=True)]
    print(f"cold report, 3 years / 1 year by round: {', '.join(f'{r:.2f}' for r in by_round)}")
    for label, stack in stacks.items():
        print(f"rounds, {label}: cold {', '.join(f'{c:.3f}' for c in stack['cold'])} s; "
              f"baseline {', '.join(f'{b:.3f}' for b in stack['baseline'])} s")  # fmt: skip
    wrong = []
    for label in stacks:
        for line in bench_year.differences(
            label, bench_year.service_buckets(docs[label]), rows[label]
        ):
            wrong.append(line)
            print(f"MISMATCH {line}", file=sys.stderr)
    figures = {label: bench_year.service_buckets(doc)[-1] for label, doc in docs.items()}
    same = figures["1 year"] == figures["3 years"]
    print(f"figures (enrolled, presences, absences, chronic): {figures['1 year'][2:]}; the "
          f"same with 3 years: {'yes' if same else 'NO'}; equal to the baselines': "
          f"{'yes' if not wrong else 'NO'}")  # fmt: skip
    return same and not wrong


def fresh_database(args: argparse.Namespace, name: str) -> str:
    """Drop and create a database on --pg; its URL."""
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return f"{args.pg}/{name}"


def migrate_and_mint(env: dict[str, str]) -> str:
    """`flask db upgrade`, then a district token for the requests; the token."""
    run([sys.executable, "-m", "flask", "--app", "attendance", "db", "upgrade"], env)
    minted = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "attendance", "token", "create",
         "--role", "district", "--name", "bench-aggregate"],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return minted.stdout.strip().splitlines()[-1]


def start_stack(env: dict[str, str], port: int, workers: int, prefix: str) -> list:
    """gunicorn (2 processes) on the port and `workers` flask workers, on `env`'s database."""
    quiet = {"env": env, "cwd": ROOT, "stdout": subprocess.DEVNULL,
             "stderr": subprocess.DEVNULL}  # fmt: skip
    web = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"]
    return [subprocess.Popen(web, **quiet)] + [  # type: ignore[call-overload]
        subprocess.Popen(  # type: ignore[call-overload]
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "attendance",
                "worker",
                "--name",
                f"{prefix}-{i}",
            ],
            **quiet,
        )  # fmt: skip
        for i in range(workers)
    ]


def stop_stack(procs: list) -> None:
    """Terminate the stack's processes, then wait for each."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)


def wait_ready(base: str) -> None:
    """Until the web answers (a loaded machine takes a while), and the workers registered."""
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)  # noqa: S310
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    time.sleep(1.0)


def ensure_partitions(url: str, first: dt.date) -> None:
    """`flask partitions ensure --from`: a month of its own for every month loaded."""
    env = {**os.environ, "DATABASE_URL": url}
    run([sys.executable, "-m", "flask", "--app", "attendance", "partitions", "ensure",
         "--from", f"{first:%Y-%m}"], env)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--case",
        choices=("all", "month", "year", "history"),
        default="all",
        help="all: month and year; history runs alone",
    )
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--month", default="2026-10", help="a past month, YYYY-MM")
    parser.add_argument(
        "--school-year", type=int, default=2025, help="the year its September is in (2025)"
    )
    parser.add_argument("--timezone", default="Europe/Berlin")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--lunch-rate",
        type=float,
        default=1.0,
        help="share of pupils going out for lunch (demo default 0.15: ~90,000 events)",
    )
    parser.add_argument(
        "--cold",
        type=int,
        default=5,
        help="month: rounds of one cold report and --repeat baselines",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="month: warm runs, and baseline runs per round"
    )
    parser.add_argument(
        "--year-rounds", type=int, default=3, help="year: rounds of both cold reports and baselines"
    )
    parser.add_argument(
        "--history-month",
        default="2026-03",
        help="history: the month reported, YYYY-MM, in the --school-year",
    )
    parser.add_argument(
        "--history-rounds", type=int, default=5, help="history: rounds of report and baseline"
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
    if args.case == "history":
        return history_main(args)

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
    TOKEN["value"] = migrate_and_mint(env)

    # Every month loaded gets its partition before the load (as `flask partitions ensure
    # --from` does for an operator loading history), not the default partition.
    firsts = [start] if args.case in ("all", "month") else []
    if args.case in ("all", "year"):
        firsts.append(bench_year.year_range(args.school_year)[0])
    ensure_partitions(url, min(firsts))

    cases: dict[str, dict] = {}
    loading = time.perf_counter()
    with psycopg.connect(url) as conn, bench_year.bare(conn, "attendances"):
        if args.case in ("all", "month"):
            began = time.perf_counter()
            school_id, events = load(conn, args.users, start, end, args.timezone, args.lunch_rate)
            took = time.perf_counter() - began
            print(f"month: loaded {events:,} events for {args.users:,} users in {took:.1f}s")
            closures = conn.execute(
                "SELECT count(*) FROM closures WHERE school_id = %s", (school_id,)
            ).fetchone()[0]  # type: ignore[index]
            cases["month"] = {"id": school_id, "start": start, "end": end, "events": events,
                              "closures": closures}  # fmt: skip
        warmup_id, _ = load(conn, 50, start, end, args.timezone, args.lunch_rate, index=1)
        if args.case in ("all", "year"):
            began = time.perf_counter()
            y0, y1 = bench_year.year_range(args.school_year)
            school_id, events, marks = bench_year.load_year(
                conn, args.users, y0, y1, args.timezone, args.lunch_rate, index=2
            )
            took = time.perf_counter() - began
            print(f"year: loaded {events:,} events and {marks:,} mark entries for "
                  f"{args.users:,} pupils in {took:.1f}s")  # fmt: skip
            cases["year"] = {"id": school_id, "start": y0, "end": y1, "events": events,
                             "marks": marks}  # fmt: skip
        built = time.perf_counter()
    print(f"indexes built and VACUUM ANALYZE in {time.perf_counter() - built:.1f}s; "
          f"loading took {time.perf_counter() - loading:.1f}s in all")  # fmt: skip

    procs = start_stack(env, args.port, args.workers, "bench")
    ok = True
    try:
        base = f"http://127.0.0.1:{args.port}"
        wait_ready(base)
        warmup = f"{base}/api/attendances/aggregate/school/{warmup_id}?from={start}&to={end}"
        for query in ("month", "week", "day", "month&users=true", "month"):
            finished(f"{warmup}&granularity={query}&wait=20", base)
        if "month" in cases:
            ok = month_case(args, url, base, cases["month"]) and ok
        if "year" in cases:
            ok = year_case(args, url, base, cases["year"]) and ok
    finally:
        stop_stack(procs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
