"""The school-year case of tools/bench_aggregate.py: its data, loaded in SQL, and its baselines.

One school of 2,000 pupils over a school year (September to June, Monday to Friday, less
the demo's closures and a Christmas break: about 196 school days), open campus: about
1.45 million events. School life is in it, so that every path of the pipeline runs:

- enrolments: the demo register (`generate.pupil_plans`): some pupils join and some leave
  during the year (half of the leavers archived); a leaver's badge still works for a few
  days (events stored, never counted);
- `day_end` 16:30 (forgotten check-outs are closed there; an evening visit after it stays
  unclosed) and `late_after` 08:15 (latecomers);
- double check-ins, orphan check-outs, half days, pupils sent home;
- marks, with a history: sick notes (some replacing an unexcused absence), "gate reader
  down" present marks (some cleared later), field trips, skipped afternoons.

The events and marks are drawn in SQL (hashes of pupil and date are the random numbers),
so loading is one INSERT ... SELECT of the whole year, not a row per event; the events
table's indexes and constraints are built again after it (`bare`), which is faster than
keeping them up to date row by row.

The baselines compute the report's figures over the same rows in one statement each,
following docs/presence.md: `BUCKETS_SQL` the month buckets (counted days, enrolled,
present, absent) and the overall figure (enrolled, presences, absences, chronic);
`USERS_SQL` the per-pupil figures of `users=true`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg

from attendance import presence
from attendance.demo import generate

SEED = 42
BREAKS = ((dt.date(2025, 12, 22), dt.date(2026, 1, 2)),)  # Christmas: school closed


def sql_params(school_id: int, start: dt.date, end: dt.date, tz: str) -> dict[str, Any]:
    """The parameters of BUCKETS_SQL and USERS_SQL: the school, its dates, and their
    bounds in UTC."""
    first, _ = presence.day_bounds(start, tz)
    _, after = presence.day_bounds(end, tz)
    return {"school": school_id, "start": start, "end": end,
            "first_instant": first, "after_instant": after}  # fmt: skip


def year_range(first_year: int) -> tuple[dt.date, dt.date]:
    """September 1 to June 30 of a school year."""
    return dt.date(first_year, 9, 1), dt.date(first_year + 1, 6, 30)


# Random numbers in [0, 1) from hashes of pupil number and date (not of ids, which depend
# on what was loaded first): a 64-bit hash gives four draws of 16 bits (slots 0 to 3), so
# a pupil-day's sixteen draws cost four hash calls. The same draws in every run, on every
# machine, whatever the query's plan.
_DRAW = """
CREATE FUNCTION pg_temp.draw(h bigint, slot int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ((h >> (16 * slot)) & 65535)::float8 / 65536.0 $$
"""

# Each pupil-day of the year's school days: which events and marks it has. Times are
# seconds after local midnight; the knobs are the demo generator's (generate.py).
_PLAN = """
CREATE TEMP TABLE year_plan AS
WITH days AS (
    SELECT d::date AS day FROM generate_series(%(start)s::date, %(end)s::date, '1 day') AS d
    WHERE extract(isodow FROM d) <= 5
      AND d::date NOT IN (SELECT date FROM closures WHERE school_id = %(school)s)
),
pupils AS (
    SELECT u.id AS uid, u.external_id::bigint AS pupil, e."from" AS enrolled_from,
           e.until AS enrolled_until,
           CASE WHEN pg_temp.draw(h, 0) < 0.05 THEN 0.20 + 0.20 * pg_temp.draw(h, 1)
                ELSE 0.03 + 0.02 * pg_temp.draw(h, 1) END AS absence,
           27600 + floor(1500 * pg_temp.draw(h, 2))::int AS arrive,
           53100 + floor(5400 * pg_temp.draw(h, 3))::int AS leave
    FROM users u JOIN enrolments e ON e.user_id = u.id
    CROSS JOIN LATERAL (SELECT hashint8extended(u.external_id::bigint, %(seed)s)) AS ph(h)
    WHERE u.school_id = %(school)s
),
drawn AS (
    SELECT p.uid, d.day, p.arrive, p.leave,
           (p.enrolled_from IS NULL OR p.enrolled_from <= d.day)
             AND (p.enrolled_until IS NULL OR d.day <= p.enrolled_until) AS enrolled,
           (p.enrolled_from IS NULL OR p.enrolled_from <= d.day)
             AND (p.enrolled_until IS NULL OR d.day <= p.enrolled_until + 5) AS badges,
           pg_temp.draw(h1, 0) < p.absence AS absent,
           pg_temp.draw(h1, 1) < 0.05 AS late,
           pg_temp.draw(h1, 2) < 0.0035 AS sent_home,
           pg_temp.draw(h1, 3) < 0.01 AS half_day,
           pg_temp.draw(h2, 0) < %(lunch_rate)s AS lunch,
           pg_temp.draw(h2, 1) < 0.02 AS forgets,
           pg_temp.draw(h2, 2) < 0.03 AS double_tap,
           pg_temp.draw(h2, 3) < 0.003 AS evening,
           pg_temp.draw(h3, 0) < 0.003 AS orphan,
           pg_temp.draw(h3, 1) AS t1, pg_temp.draw(h3, 2) AS t2, pg_temp.draw(h3, 3) AS t3,
           pg_temp.draw(h4, 0) AS mark, pg_temp.draw(h4, 1) AS history
    FROM pupils p CROSS JOIN days d
    CROSS JOIN LATERAL (SELECT p.pupil * 100000 + (d.day - date '2000-01-01')) AS key(k)
    CROSS JOIN LATERAL (
        SELECT hashint8extended(k, %(seed)s + 1), hashint8extended(k, %(seed)s + 2),
               hashint8extended(k, %(seed)s + 3), hashint8extended(k, %(seed)s + 4)
    ) AS hashes(h1, h2, h3, h4)
),
timed AS (
    SELECT *,
           CASE WHEN late THEN 30600 + floor(7200 * t1)::int
                ELSE greatest(27000, least(29700, arrive - 600 + floor(1200 * t1)::int))
           END AS arrive_at
    FROM drawn
)
SELECT uid, day, enrolled, badges, absent, late, sent_home, half_day, lunch, forgets,
       double_tap, evening, orphan, mark, history, arrive_at,
       CASE WHEN sent_home THEN arrive_at + 1800 + floor(9000 * t2)::int
            WHEN half_day THEN arrive_at + 1800
                 + floor((least(arrive_at + 14340, 43140) - arrive_at - 1800) * t2)::int
       END AS early_out,
       CASE WHEN lunch AND NOT late THEN 42300 + floor(1800 * t3)::int END AS lunch_out,
       CASE WHEN late THEN greatest(
                greatest(52200, least(59400, leave - 900 + floor(1800 * t2)::int)),
                arrive_at + 15000 + floor(1200 * t3)::int)
            ELSE greatest(52200, least(59400, leave - 900 + floor(1800 * t2)::int))
       END AS leave_at
FROM timed
"""

# One row per event: (type, seconds after local midnight, event number of the day).
_EVENTS = """
INSERT INTO attendances (user_id, school_id, type, timestamp, temperature, received_at,
                         idempotency_key)
SELECT p.uid, %(school)s, e.type, t.ts, 36.6, t.ts, 'year-' || p.uid || '-' || p.day || '-' || e.n
FROM year_plan p
CROSS JOIN LATERAL (VALUES
    ('checkout', CASE WHEN p.orphan THEN 24600 END, 0),
    ('checkin', p.arrive_at, 1),
    ('checkin', CASE WHEN p.double_tap THEN p.arrive_at + 4 END, 2),
    ('checkout', p.early_out, 3),
    ('checkout', CASE WHEN p.early_out IS NULL THEN p.lunch_out END, 4),
    ('checkin', CASE WHEN p.early_out IS NULL THEN p.lunch_out + 1800 + (p.arrive_at %% 1200) END,
     5),
    ('checkout', CASE WHEN p.early_out IS NULL AND NOT p.forgets THEN p.leave_at END, 6),
    ('checkin', CASE WHEN p.evening AND p.early_out IS NULL THEN 64800 + p.arrive_at %% 3600 END,
     7)
) AS e(type, seconds, n)
CROSS JOIN LATERAL (
    SELECT (p.day + e.seconds * interval '1 second') AT TIME ZONE %(tz)s AS ts
) AS t
WHERE p.badges AND NOT p.absent AND e.seconds IS NOT NULL
ORDER BY t.ts
"""

# The admins' marks, in the order they were recorded (the id orders a history).
_MARKS = """
INSERT INTO marks (user_id, school_id, date, status, reason, excused, created_by, created_at)
SELECT uid, %(school)s, day, status, reason, excused, 'bench', now()
FROM (
    SELECT uid, day, 0 AS n, 'absent' AS status, 'No show' AS reason, false AS excused
    FROM year_plan WHERE enrolled AND absent AND mark < 0.5 AND history < 0.2
    UNION ALL
    SELECT uid, day, 1, 'absent', 'Sick note', true
    FROM year_plan WHERE enrolled AND absent AND mark < 0.5
    UNION ALL
    SELECT uid, day, 1, 'present', 'Field trip', false
    FROM year_plan WHERE enrolled AND absent AND mark >= 0.97
    UNION ALL
    SELECT uid, day, 1, 'present', 'Gate reader down', false
    FROM year_plan WHERE enrolled AND NOT absent AND half_day AND NOT sent_home AND mark < 0.5
    UNION ALL
    SELECT uid, day, 2, 'cleared', 'Entered by mistake', false
    FROM year_plan WHERE enrolled AND NOT absent AND half_day AND NOT sent_home AND mark < 0.5
      AND history < 0.1
    UNION ALL
    SELECT uid, day, 1, 'absent', 'Skipped the afternoon', false
    FROM year_plan WHERE enrolled AND NOT absent AND mark < 0.003
) AS m
ORDER BY day, uid, n
"""


def load_year(
    conn: psycopg.Connection[Any],
    users: int,
    start: dt.date,
    end: dt.date,
    tz: str,
    lunch_rate: float,
    index: int,
) -> tuple[int, int, int]:
    """One school's year (see the module's docstring); returns its id, events and marks."""
    plan = generate.school_plans(index + 1, [tz], seed=SEED)[index]
    pupils = generate.pupil_plans(users, start, end, SEED, index)
    names = generate.user_names(users, SEED, index)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO schools (name, timezone, school_days, min_daily_hours, period_ratio,"
            " fever_threshold, day_end, late_after, chronic_ratio, chronic_min_days,"
            " generation, created_at, updated_at)"
            " VALUES (%s, %s, '[1,2,3,4,5]', 4, 0.8, 37.5, %s, %s, 0.1, 10, 0, now(), now())"
            " RETURNING id",
            (f"{plan.name} (year)", tz, generate.DAY_END, generate.LATE_AFTER),
        )
        school_id = cur.fetchone()[0]  # type: ignore[index]
        closed = {d for d in plan.closures if start <= d <= end}
        for first, last in BREAKS:
            closed.update(first + dt.timedelta(days=i) for i in range((last - first).days + 1))
        cur.executemany(
            "INSERT INTO closures (school_id, date) VALUES (%s, %s)",
            [(school_id, d) for d in sorted(closed)],
        )
        with cur.copy(
            'COPY users (name, school_id, external_id, "group", created_at, updated_at,'
            " deleted_at) FROM STDIN"
        ) as copy:
            now = dt.datetime.now(dt.UTC)
            for pupil, name in zip(pupils, names, strict=True):
                until = pupil.enrolled_until
                archived = until is not None and pupil.key % 2 == 0  # half the leavers
                gone = dt.datetime.combine(until, dt.time(12), dt.UTC) if archived else None
                copy.write_row((name, school_id, pupil.external_id, pupil.group, now, now,
                                None if gone is None else gone + dt.timedelta(days=1)))  # fmt: skip
        ids = dict(
            cur.execute(
                "SELECT external_id, id FROM users WHERE school_id = %s", (school_id,)
            ).fetchall()
        )
        with cur.copy(
            'COPY enrolments (user_id, school_id, "from", until, created_at) FROM STDIN'
        ) as copy:
            for pupil in pupils:
                copy.write_row((ids[pupil.external_id], school_id, pupil.enrolled_from,
                                pupil.enrolled_until, now))  # fmt: skip
    conn.commit()
    events, marks = load_events(conn, school_id, start, end, tz, lunch_rate)
    return school_id, events, marks


def load_events(
    conn: psycopg.Connection[Any],
    school_id: int,
    start: dt.date,
    end: dt.date,
    tz: str,
    lunch_rate: float,
) -> tuple[int, int]:
    """The events and marks of start..end for a school `load_year` made (another school
    year of the same pupils, say); returns how many of each."""
    params = {"school": school_id, "start": start, "end": end, "tz": tz,
              "lunch_rate": lunch_rate, "seed": SEED}  # fmt: skip
    with conn.cursor() as cur:
        cur.execute("DROP FUNCTION IF EXISTS pg_temp.draw(bigint, int)")
        cur.execute(_DRAW)
        cur.execute(_PLAN, params)
        events = cur.execute(_EVENTS, params).rowcount
        marks = cur.execute(_MARKS, params).rowcount
        cur.execute("DROP TABLE year_plan")
    conn.commit()
    return events, marks


def on_every_partition(definition: str) -> str:
    """An index's definition as pg_indexes writes it, made to build on every partition.

    For a partitioned table pg_indexes says `CREATE INDEX ... ON ONLY attendances`, which
    makes an invalid index on the parent alone (its partitions keep none).
    """
    return definition.replace(" ON ONLY ", " ON ", 1)


@contextlib.contextmanager
def bare(conn: psycopg.Connection[Any], table: str) -> Iterator[None]:
    """Load `table` without its indexes and constraints (but CHECKs), then build them
    again, and VACUUM ANALYZE the database (as autovacuum would have, in time)."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY contype DESC",
        (table,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        (table,),
    ).fetchall()
    for name, _ in constraints:
        conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.commit()
    yield
    conn.execute("SET maintenance_work_mem = '256MB'")
    for _, definition in indexes:
        conn.execute(on_every_partition(definition))
    for name, definition in reversed(constraints):
        conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    invalid = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index"
        " WHERE indrelid = %s::regclass AND NOT indisvalid",
        (table,),
    ).fetchall()
    if invalid:
        raise RuntimeError(f"indexes of {table} left invalid: {invalid}")
    conn.commit()
    autocommit, conn.autocommit = conn.autocommit, True
    conn.execute("VACUUM ANALYZE")
    conn.autocommit = autocommit


# What every counted pupil-day is (docs/presence.md), in one statement's CTEs: the day's
# sessions paired (a check-out closes the session opened by the first check-in after the
# previous check-out; one still open at the end of a past date, opened before day_end, is
# closed at day_end), the pupil's enrolment on the date, and the effective mark (the
# latest entry, unless a clearing).
_FACTS = """
WITH sc AS (
    SELECT s.id, s.timezone AS tz, s.school_days, s.min_daily_hours, s.period_ratio,
           s.day_end, s.late_after, s.chronic_ratio, s.chronic_min_days,
           %(start)s::date AS d0, %(end)s::date AS d1
    FROM schools s WHERE s.id = %(school)s
),
counted AS (
    SELECT d::date AS day, date_trunc('month', d)::date AS bucket
    FROM sc, generate_series(sc.d0, sc.d1, interval '1 day') AS d
    WHERE extract(isodow FROM d)::int IN (
            SELECT jsonb_array_elements_text(sc.school_days::jsonb)::int)
      AND d::date NOT IN (SELECT c.date FROM closures c WHERE c.school_id = sc.id)
),
ev AS (
    SELECT a.user_id, (a.timestamp AT TIME ZONE sc.tz)::date AS day, a.timestamp AS ts,
           a.type,
           coalesce(sum((a.type = 'checkout')::int) OVER w_before, 0) AS run
    FROM attendances a, sc
    WHERE a.school_id = sc.id
      AND a.timestamp >= (sc.d0::timestamp AT TIME ZONE sc.tz)
      AND a.timestamp < ((sc.d1 + 1)::timestamp AT TIME ZONE sc.tz)
      -- the same bounds as values, so that PostgreSQL prunes to their months' partitions
      AND a.timestamp >= %(first_instant)s AND a.timestamp < %(after_instant)s
    WINDOW w_before AS (PARTITION BY a.user_id, (a.timestamp AT TIME ZONE sc.tz)::date
                        ORDER BY a.timestamp, a.id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
sessions AS (
    SELECT user_id, day, min(ts) FILTER (WHERE type = 'checkin') AS open_at,
           min(ts) FILTER (WHERE type = 'checkout') AS close_at
    FROM ev GROUP BY user_id, day, run
),
daily AS (
    SELECT s.user_id, s.day, min(s.open_at) AS first_in,
           sum(CASE WHEN s.open_at IS NULL THEN interval '0'
                    WHEN s.close_at IS NOT NULL THEN s.close_at - s.open_at
                    WHEN s.open_at < ((s.day + sc.day_end) AT TIME ZONE sc.tz)
                    THEN ((s.day + sc.day_end) AT TIME ZONE sc.tz) - s.open_at
                    ELSE interval '0' END) AS total
    FROM sessions s, sc GROUP BY s.user_id, s.day
),
enrolled AS (
    SELECT DISTINCT e.user_id, c.day, c.bucket
    FROM enrolments e JOIN sc ON e.school_id = sc.id
    JOIN counted c ON (e."from" IS NULL OR e."from" <= c.day)
                  AND (e.until IS NULL OR c.day <= e.until)
),
marked AS (
    SELECT * FROM (
        SELECT DISTINCT ON (m.user_id, m.date) m.user_id, m.date AS day, m.status, m.excused
        FROM marks m, sc WHERE m.school_id = sc.id AND m.date BETWEEN sc.d0 AND sc.d1
        ORDER BY m.user_id, m.date, m.id DESC
    ) AS latest WHERE status <> 'cleared'
),
facts AS (
    SELECT en.user_id, en.day, en.bucket,
           CASE m.status WHEN 'present' THEN true WHEN 'absent' THEN false
                ELSE coalesce(d.total > make_interval(secs => sc.min_daily_hours * 3600), false)
           END AS present,
           coalesce(m.excused, false) AS excused,
           coalesce(m.status IS NULL
                    AND d.first_in > ((en.day + sc.late_after) AT TIME ZONE sc.tz), false) AS late
    FROM enrolled en CROSS JOIN sc
    LEFT JOIN daily d ON d.user_id = en.user_id AND d.day = en.day
    LEFT JOIN marked m ON m.user_id = en.user_id AND m.day = en.day
),
per_user AS (
    SELECT user_id, count(*) AS own, count(*) FILTER (WHERE present) AS hits,
           count(*) FILTER (WHERE excused) AS excused, count(*) FILTER (WHERE late) AS late,
           max(day) FILTER (WHERE present) AS last_present
    FROM facts GROUP BY user_id
)
"""

BUCKETS_SQL = (
    _FACTS  # noqa: S608 - constant text
    + """,
per_bucket AS (
    SELECT user_id, bucket, count(*) AS own, count(*) FILTER (WHERE present) AS hits
    FROM facts GROUP BY user_id, bucket
)
SELECT b.bucket, (SELECT count(*) FROM counted c WHERE c.bucket = b.bucket),
       count(*), count(*) FILTER (WHERE b.hits::numeric / b.own > sc.period_ratio),
       count(*) FILTER (WHERE NOT b.hits::numeric / b.own > sc.period_ratio), NULL::bigint
FROM per_bucket b CROSS JOIN sc GROUP BY b.bucket, sc.period_ratio
UNION ALL
SELECT NULL, (SELECT count(*) FROM counted),
       count(*), count(*) FILTER (WHERE u.hits::numeric / u.own > sc.period_ratio),
       count(*) FILTER (WHERE NOT u.hits::numeric / u.own > sc.period_ratio),
       count(*) FILTER (WHERE u.own >= sc.chronic_min_days
                          AND (u.own - u.hits) >= sc.chronic_ratio * u.own)
FROM per_user u CROSS JOIN sc
ORDER BY 1 NULLS LAST
"""
)

USERS_SQL = (
    _FACTS  # noqa: S608 - constant text
    + """,
streaks AS (
    SELECT f.user_id, count(*) AS streak
    FROM facts f JOIN per_user u USING (user_id)
    WHERE u.last_present IS NULL OR f.day > u.last_present
    GROUP BY f.user_id
)
SELECT u.user_id, u.own, u.hits, u.own - u.hits, u.excused,
       CASE WHEN sc.late_after IS NOT NULL THEN u.late END,
       u.hits::numeric / u.own > sc.period_ratio,
       u.own >= sc.chronic_min_days AND (u.own - u.hits) >= sc.chronic_ratio * u.own,
       coalesce(s.streak, 0)
FROM per_user u CROSS JOIN sc LEFT JOIN streaks s USING (user_id)
ORDER BY u.user_id
"""
)

USER_FIELDS = (
    "user_id",
    "counted_days",
    "present_days",
    "absent_days",
    "excused_days",
    "late_days",
    "present",
    "chronic",
    "absence_streak",
)


def service_buckets(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A finished report document's figures in BUCKETS_SQL's rows."""
    rows: list[tuple[Any, ...]] = [
        (
            dt.date.fromisoformat(b["start"]),
            b["counted_days"],
            b["enrolled"],
            b["present"],
            b["absent"],
            None,
        )  # fmt: skip
        for b in doc["buckets"]
    ]
    counted = sum(b["counted_days"] for b in doc["buckets"])
    rows.append((None, counted, doc["enrolled"], doc["presences"], doc["absences"], doc["chronic"]))
    return rows


def service_users(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A finished `users=true` document's per-user figures in USERS_SQL's rows."""
    return [
        tuple(u[k] for k in USER_FIELDS) for u in sorted(doc["users"], key=lambda u: u["user_id"])
    ]


def differences(
    name: str, service: list[tuple[Any, ...]], baseline: list[tuple[Any, ...]]
) -> list[str]:
    """What differs between the service's rows and the baseline's (at most five lines)."""
    found = [f"{name}: {len(service)} rows from the service, {len(baseline)} from SQL"]
    if len(service) == len(baseline):
        found = [
            f"{name}: service {s} != SQL {b}"
            for s, b in zip(service, baseline, strict=True)
            if tuple(s) != tuple(b)
        ]
    return found[:5]
