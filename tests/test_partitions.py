"""The monthly partitions of attendances on PostgreSQL: made ahead by the migration and by
the periodic step, rows moved out of the default partition, and the report pipeline's
and the ingest's statements reading only the months they ask for.

Each test works in months of its own, far from today and from the other tests' (the
partitions a test adds stay in the session's schema: tables are emptied between tests,
not dropped).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, text

from attendance import clock, create_app
from attendance.jobs.partitions import ensure
from attendance.models import Attendance
from attendance.services import partitions
from attendance.services.reports.steps import day_events_query

from .conftest import dispose, event_body, reset_schema, submit_report


@pytest.fixture(autouse=True)
def postgresql(request: pytest.FixtureRequest, db: Any) -> None:
    if db.engine.dialect.name != "postgresql" and "sqlite" not in request.node.name:
        pytest.skip("partitions are PostgreSQL's; SQLite keeps one plain table")


def test_on_sqlite_there_is_nothing_to_partition(app_config, tmp_path):
    # An app of its own on SQLite, whatever database the other tests run on.
    sqlite_app = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db"})
    try:
        reset_schema(sqlite_app)
        runner = sqlite_app.test_cli_runner()
        # Its own app context: the commands would otherwise run in the one already pushed.
        with sqlite_app.app_context():
            assert ensure(3).partitioned is False
            for args in (["partitions", "ensure"], ["partitions", "list"]):
                result = runner.invoke(args=args)
                assert result.exit_code == 0 and "not partitioned here" in result.output
    finally:
        dispose(sqlite_app)


def at(when: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: when)


def names(db: Any) -> list[str]:
    with db.engine.connect() as conn:
        found = [p.name for p in partitions.partitions(conn)]
        conn.rollback()
    return found


def home(db: Any, ident: int) -> str:
    """The partition an event is stored in."""
    return db.session.execute(
        text("SELECT tableoid::regclass::text FROM attendances WHERE id = :id"), {"id": ident}
    ).scalar_one()


PARTITION = re.compile(r" on (attendances_(?:p\d{4}_\d{2}|default))\b")


def scanned(db: Any, sql: str, params: Any, analyze: bool = False) -> set[str]:
    """The partitions of attendances a statement's plan scans: with `analyze`, only those
    whose scan ran (PostgreSQL prunes some while it runs: "never executed"). An insert's
    foreign-key triggers name the partition it wrote to; they are not scans."""
    options = "ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF" if analyze else "COSTS OFF"
    connection = db.session.connection()
    plan = [line for (line,) in connection.exec_driver_sql(f"EXPLAIN ({options}) {sql}", params)]
    db.session.rollback()  # EXPLAIN ANALYZE of a write did it
    return {
        match.group(1)
        for line in plan
        if "Scan" in line and "never executed" not in line
        for match in PARTITION.finditer(line)
    }


def compiled(db: Any, statement: Any) -> tuple[str, dict[str, Any]]:
    done = statement.compile(dialect=db.engine.dialect)
    return str(done), dict(done.params)


def executed(db: Any, run: Any, start: str) -> list[tuple[str, Any]]:
    """The statements beginning with `start` that `run()` executes, with their parameters
    (the session is rolled back after it)."""
    found: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith(start):
            found.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    db.session.rollback()
    return found


def test_the_migration_made_this_month_three_ahead_and_a_default(app, db):
    # The session's schema may be from last month (a suite running over a month's end):
    # made again here, between two looks at the clock, it is this month's or the next's.
    db.session.remove()
    before = partitions.month_of(clock.now())
    reset_schema(app)
    after = partitions.month_of(clock.now())
    found = names(db)
    made = [
        {partitions.name_of(partitions.add_months(this, n)) for n in range(4)}
        for this in (before, after)
    ]
    assert made[0] <= set(found) or made[1] <= set(found)
    assert found[-1] == partitions.DEFAULT


def test_an_event_no_month_covers_is_stored_in_the_default(client, make_user, db):
    user = make_user()
    sent = event_body(user, timestamp="2001-02-03T08:00:00Z", client_event_id="old")
    first = client.post("/api/attendances", json=sent)
    again = client.post("/api/attendances", json=sent)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["data"]["id"] == again.json["data"]["id"]
    assert home(db, first.json["data"]["id"]) == partitions.DEFAULT


def test_adding_a_month_moves_its_events_out_of_the_default(client, make_user, db, monkeypatch):
    at(dt.datetime(2031, 5, 20, 9, tzinfo=dt.UTC), monkeypatch)
    user = make_user()
    sent = [
        event_body(user, timestamp="2031-05-20T08:00:00Z", client_event_id="today"),
        event_body(user, timestamp="2031-04-30T23:30:00Z", client_event_id="late"),
        event_body(user, timestamp="2031-03-02T08:00:00Z"),  # stays: no month asked
    ]
    ids = [client.post("/api/attendances", json=body).json["data"]["id"] for body in sent]
    assert {home(db, ident) for ident in ids} == {partitions.DEFAULT}
    before = db.session.execute(select(Attendance).order_by(Attendance.id)).scalars().all()
    rows = [(e.id, e.timestamp, e.idempotency_key, e.user_id) for e in before]
    db.session.rollback()

    result = ensure(1, dt.date(2031, 4, 1))

    assert result.created == [
        "attendances_p2031_04",
        "attendances_p2031_05",
        "attendances_p2031_06",
    ]
    assert result.moved == 2
    assert [home(db, ident) for ident in ids] == [
        "attendances_p2031_05",
        "attendances_p2031_04",
        partitions.DEFAULT,
    ]
    after = db.session.execute(select(Attendance).order_by(Attendance.id)).scalars().all()
    assert [(e.id, e.timestamp, e.idempotency_key, e.user_id) for e in after] == rows
    # The keys still find their events, now in their months.
    again = client.post("/api/attendances", json=sent[1])
    assert (again.status_code, again.json["data"]["id"]) == (200, ids[1])
    # Again: nothing to do.
    assert ensure(1, dt.date(2031, 4, 1)).created == []


def test_two_processes_adding_the_same_months(app, db, monkeypatch):
    at(dt.datetime(2032, 3, 10, tzinfo=dt.UTC), monkeypatch)
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(ensure(2))
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    made = sorted(name for result in results for name in result.created)
    assert made == ["attendances_p2032_03", "attendances_p2032_04", "attendances_p2032_05"]


def test_the_periodic_step_skips_while_another_process_adds(app, db, monkeypatch):
    at(dt.datetime(2032, 9, 10, tzinfo=dt.UTC), monkeypatch)
    with db.engine.connect() as other:
        other.exec_driver_sql("SELECT pg_advisory_lock(%s)", (partitions.LOCK_KEY,))
        try:
            busy = ensure(0, wait=False)
        finally:
            other.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (partitions.LOCK_KEY,))
            other.commit()
    assert busy.skipped and busy.created == []
    assert ensure(0, wait=False).created == ["attendances_p2032_09"]


def test_the_periodic_step_runs_when_due(app, db, monkeypatch):
    from attendance.jobs import partitions as job

    at(dt.datetime(2033, 6, 10, tzinfo=dt.UTC), monkeypatch)
    monkeypatch.setitem(app.config, "PARTITION_MONTHS_AHEAD", 1)
    step = job.periodic_step(app.config)
    first = step()
    assert first is not None
    assert first.created == ["attendances_p2033_06", "attendances_p2033_07"]
    assert step() is None  # not due for another PARTITION_CHECK_INTERVAL


def test_sizes_are_measured_for_the_listing_only(db):
    """The periodic step reads the ranges (`partitions`); measuring each partition's files
    is for the listing (`detailed`)."""
    with db.engine.connect() as conn:
        plain = partitions.partitions(conn)
        detailed = partitions.partitions(conn, detailed=True)
        conn.rollback()
    assert plain and {p.size for p in plain} == {None}
    assert [p.name for p in detailed] == [p.name for p in plain]
    assert all(p.size is not None and p.size > 0 for p in detailed)


def test_the_command_adds_and_lists(runner, db, monkeypatch):
    at(dt.datetime(2034, 2, 15, tzinfo=dt.UTC), monkeypatch)
    added = runner.invoke(args=["partitions", "ensure", "--months-ahead", "0", "--from", "2034-01"])
    assert added.exit_code == 0, added.output
    assert "added attendances_p2034_01\nadded attendances_p2034_02\n" in added.output
    listed = runner.invoke(args=["partitions", "list"])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"attendances_p2034_01\s+2034-01-01 00:00\s+2034-02-01 00:00", listed.output)
    assert re.search(r"attendances_default\s+default", listed.output)
    wrong = runner.invoke(args=["partitions", "ensure", "--from", "2034-13"])
    assert wrong.exit_code == 2 and "must be a month, YYYY-MM" in wrong.output


# -- pruning ----------------------------------------------------------------------------


def test_a_month_report_reads_its_months_only(app, db, make_school, make_user, monkeypatch):
    at(dt.datetime(2035, 3, 10, 12, tzinfo=dt.UTC), monkeypatch)
    ensure(0, dt.date(2034, 11, 1))
    school = make_school(timezone="Europe/Berlin")  # UTC+1 in winter
    user = make_user(school=school)
    for day in (1, 15, 31):
        for hour, kind in ((7, "checkin"), (15, "checkout")):
            stamp = dt.datetime(2035, 1, day, hour, tzinfo=dt.UTC)
            db.session.add(
                Attendance(user_id=user.id, school_id=school.id, type=kind, timestamp=stamp,
                           temperature=Decimal("36.6"))
            )  # fmt: skip
    db.session.commit()

    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "attendances" in statement and not executemany:
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        report = submit_report(school, dt.date(2035, 1, 1), dt.date(2035, 1, 31), "month")
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    db.session.refresh(report)
    assert report.status == "finished"
    assert statements  # the plan's look for dates with events, at least
    read = set().union(*(scanned(db, sql, params) for sql, params in statements))
    # Berlin's January 1 begins on December 31 at 23:00 UTC: its month, and that day.
    assert read == {"attendances_p2034_12", "attendances_p2035_01"}

    # A chunk's events of one date (read through psycopg's binary cursor, not seen above).
    def chunk_reads(day: int) -> set[str]:
        return scanned(db, *compiled(db, day_events_query(school, dt.date(2035, 1, day))))

    assert chunk_reads(1) == {"attendances_p2034_12", "attendances_p2035_01"}
    assert chunk_reads(15) == {"attendances_p2035_01"}
    assert chunk_reads(31) == {"attendances_p2035_01"}


def test_ingest_statements_read_one_partition_at_most(client, make_user, db, monkeypatch):
    from attendance.services import attendances, bulk

    at(dt.datetime(2036, 4, 10, 12, tzinfo=dt.UTC), monkeypatch)
    ensure(1, dt.date(2036, 2, 1))
    user = make_user()
    posted = client.post(
        "/api/attendances",
        json=event_body(user, timestamp="2036-03-05T08:00:00Z", client_event_id="k1"),
    )
    ident = posted.json["data"]["id"]
    assert home(db, ident) == "attendances_p2036_03"
    db.session.rollback()

    # A retry's look-up of the stored event: the keys' table, then one partition.
    params = {"school_id": user.school_id, "user_id": user.id, "key": "k1"}
    sql, _ = compiled(db, attendances._LOOK_UP)
    assert scanned(db, sql, params, analyze=True) == {"attendances_p2036_03"}

    # Recording: no partition read at all (the insert routes its row).
    row = attendances.Row.from_event(
        {**event_body(user), "temperature": Decimal("36.6"),
         "timestamp": dt.datetime(2036, 4, 10, 8, tzinfo=dt.UTC)},
        clock.now(), "k2",
    )  # fmt: skip
    params = {**row.as_dict(), "timezone": None}
    assert scanned(db, attendances._INSERT_PG, params, analyze=True) == set()

    # A bulk batch's look-up of its keys reads the keys' table only.
    sql, params = compiled(db, bulk._stored_keys_query(user.school_id, ["k1", "k2"]))
    assert scanned(db, sql, params, analyze=True) == set()

    # Deleting an event (and its key) deletes from its partition.
    [delete] = executed(
        db,
        lambda: attendances.delete_attendance(db.session.get_one(Attendance, ident)),
        "DELETE FROM attendances",
    )
    assert scanned(db, *delete, analyze=True) == {"attendances_p2036_03"}


def test_a_fever_reading_is_read_from_its_month(client, make_user, db, monkeypatch):
    """The fever events of new readings (after a check-in, a batch, the sweep) are looked
    up by id and timestamp: PostgreSQL reads the readings' months only."""
    from attendance.services.webhooks import events

    at(dt.datetime(2037, 3, 10, 12, tzinfo=dt.UTC), monkeypatch)
    ensure(0, dt.date(2037, 1, 1))
    user = make_user()
    posted = client.post(
        "/api/attendances",
        json=event_body(user, timestamp="2037-02-05T08:00:00Z", temperature=39.5),
    )
    ident = posted.json["data"]["id"]
    reading = (ident, dt.datetime(2037, 2, 5, 8, tzinfo=dt.UTC))
    found: list[Any] = []
    [query] = executed(db, lambda: found.extend(events.fever_events([reading])), "SELECT")
    assert [e.data["attendance_id"] for e in found] == [ident]
    assert scanned(db, *query, analyze=True) == {"attendances_p2037_02"}
    # By id alone, every month's index would be probed.
    by_id = select(Attendance.id).where(Attendance.id == ident)
    assert len(scanned(db, *compiled(db, by_id), analyze=True)) > 1
