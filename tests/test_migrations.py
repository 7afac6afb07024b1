"""The migrations build exactly the schema the models describe, on the test database."""

from __future__ import annotations

from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext


def test_models_match_migrations(db):
    from attendance.services.partitions import partition_names

    with db.engine.connect() as conn:
        # The monthly partitions of attendances are tables the models do not name: the
        # model describes their parent (as `flask db migrate` sees it, migrations/env.py).
        partitions = partition_names(conn)
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, _: not (kind == "table" and name in partitions)
            },
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_foreign_keys_are_enforced(db, make_school):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from attendance.models import User

    db.session.add(User(name="Orphan", school_id=424242))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_report_results_use_lz4_on_postgresql(db):
    import pytest

    if db.engine.dialect.name != "postgresql":
        pytest.skip("column compression is PostgreSQL's")
    with db.engine.connect() as conn:
        available = conn.exec_driver_sql(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
        methods = dict(
            conn.exec_driver_sql(
                "SELECT attrelid::regclass::text || '.' || attname, attcompression"
                " FROM pg_attribute WHERE attname IN ('result', 'results')"
                " AND attrelid IN ('report_chunks'::regclass, 'day_summaries'::regclass,"
                " 'reports'::regclass)"
            ).all()
        )
    want = "l" if "lz4" in available else ""
    assert methods == {
        "report_chunks.results": want,
        "day_summaries.results": want,
        "reports.result": want,
    }


def test_upgrade_enrols_existing_users(app, db):
    """Users of the previous head get one enrolment each: open, or ended by their archive."""
    import datetime as dt

    from flask_migrate import upgrade
    from sqlalchemy import select, text

    from attendance.models import Enrolment, School

    from .conftest import reset_schema

    reset_schema(app, revision="0006")
    try:
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO schools (id, name, timezone, school_days, min_daily_hours,"
                    " period_ratio, fever_threshold, generation, created_at, updated_at) VALUES"
                    " (1, 'Saigon', 'Asia/Ho_Chi_Minh', '[1,2,3,4,5]', 4, 0.8, 37.5, 0, :t, :t),"
                    " (2, 'Honolulu', 'Pacific/Honolulu', '[1,2,3,4,5]', 4, 0.8, 37.5, 0, :t, :t)"
                ),
                {"t": dt.datetime(2026, 9, 1, tzinfo=dt.UTC)},
            )
            # 2026-11-26T20:00Z is Nov 27 in Saigon (UTC+7) and Nov 26 in Honolulu (UTC-10).
            archived = dt.datetime(2026, 11, 26, 20, tzinfo=dt.UTC)
            for ident, school, deleted in (
                (1, 1, None),
                (2, 1, archived),
                (3, 2, archived),
                (4, 2, None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO users (id, name, school_id, created_at, updated_at,"
                        " deleted_at) VALUES (:id, 'P', :school, :t, :t, :deleted)"
                    ),
                    {"id": ident, "school": school, "t": archived, "deleted": deleted},
                )
        upgrade()
    finally:
        upgrade()  # whatever happened, the other tests need the head schema
    spans = {
        e.user_id: (e.school_id, e.from_, e.until)
        for e in db.session.scalars(select(Enrolment).order_by(Enrolment.id))
    }
    assert spans == {
        1: (1, None, None),
        2: (1, None, dt.date(2026, 11, 26)),
        3: (2, None, dt.date(2026, 11, 25)),
        4: (2, None, None),
    }
    school = db.session.get(School, 1)
    assert (school.chronic_ratio, school.chronic_min_days) == (Decimal("0.1"), 10)
    assert school.day_end is None and school.late_after is None


def test_token_roles_are_checked_by_the_database(db, make_school):
    """The role check, replaced to admit `staff` (SQLite copies the table), still refuses
    a role the code does not know, and a staff token needs a school."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from attendance.security.models import ApiToken

    school = make_school()
    db.session.add(ApiToken(name="s", role="staff", school_id=school.id, token_hash="a" * 64))
    db.session.commit()
    for role, school_id in (("root", school.id), ("staff", None)):
        db.session.add(ApiToken(name="x", role=role, school_id=school_id, token_hash="b" * 64))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_upgrade_to_partitions_keeps_every_event_key_and_id(app, db):
    """0011 -> 0012 on a table with keyed and unkeyed events of several months, and some
    far in the past: every row and key survives with its id, the ids go on from the
    sequence, retries are still answered with the stored event; and back down again."""
    import datetime as dt

    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from attendance import clock
    from attendance.services import partitions
    from attendance.services.attendances import record_attendance
    from attendance.services.bulk import DUPLICATE, record_many

    from .conftest import reset_schema

    columns = "id, user_id, school_id, type, timestamp, temperature, image, received_at"
    columns += ", idempotency_key"
    now = clock.now()
    stamps = [
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # a device whose clock was reset
        dt.datetime(2001, 3, 4, 5, 6, 7, tzinfo=dt.UTC),
        dt.datetime(2025, 9, 15, 7, 30, tzinfo=dt.UTC),
        dt.datetime(2025, 10, 2, 15, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        now - dt.timedelta(days=3),
    ]

    def rows() -> list[tuple]:
        with db.engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(text(f"SELECT {columns} FROM attendances ORDER BY id"))
            ]  # noqa: S608 - constant text

    reset_schema(app, revision="0011")
    try:
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO schools (id, name, timezone, school_days, min_daily_hours,"
                    " period_ratio, fever_threshold, generation, created_at, updated_at)"
                    " VALUES (1, 'A', 'UTC', '[1,2,3,4,5]', 4, 0.8, 37.5, 0, :t, :t),"
                    " (2, 'B', 'Europe/Berlin', '[1,2,3,4,5]', 4, 0.8, 37.5, 0, :t, :t)"
                ),
                {"t": now},
            )
            for ident in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO users (id, name, school_id, created_at, updated_at)"
                        " VALUES (:id, 'P', :id, :t, :t)"
                    ),
                    {"id": ident, "t": now},
                )
                conn.execute(
                    text(
                        "INSERT INTO enrolments (user_id, school_id, created_at)"
                        " VALUES (:id, :id, :t)"
                    ),
                    {"id": ident, "t": now},
                )
            for n, stamp in enumerate(stamps * 2):
                school = 1 + n % 2
                conn.execute(
                    text(
                        "INSERT INTO attendances (user_id, school_id, type, timestamp,"
                        " temperature, received_at, idempotency_key)"
                        " VALUES (:s, :s, :type, :ts, 36.6, :ts, :key)"
                    ),
                    {
                        "s": school,
                        "type": ("checkin", "checkout")[n % 2],
                        "ts": stamp,
                        # keyed and unkeyed; key-2 and key-5 at both schools
                        "key": None if n % 3 == 0 else f"key-{n // 2}",
                    },
                )
        before = rows()
        keyed = {(r[2], r[8]): (r[0], r[4]) for r in before if r[8] is not None}
        assert len(before) == 14 and len(keyed) == 9

        upgrade()

        assert rows() == before
        with db.engine.connect() as conn:
            stored = conn.execute(
                text("SELECT school_id, idempotency_key, attendance_id, timestamp"
                     " FROM attendance_keys")
            ).all()  # fmt: skip
            found = [p for p in partitions.partitions(conn, detailed=True)]
            homes = (
                dict(
                    conn.execute(text("SELECT id, tableoid::regclass::text FROM attendances")).all()
                )
                if conn.dialect.name == "postgresql"
                else {}
            )
        assert {(s, k): (i, t) for s, k, i, t in stored} == keyed
        if db.engine.dialect.name == "postgresql":
            by_name = {p.name: p for p in found}
            assert by_name[partitions.DEFAULT].rows == 0
            for ident, _, _, _, stamp, *_ in before:
                assert homes[ident] == partitions.name_of(partitions.month_of(stamp))
            this = partitions.month_of(now)
            for ahead in range(4):
                assert partitions.name_of(partitions.add_months(this, ahead)) in by_name

        # The ids go on; a retried key finds its event, at either school, whatever path.
        last = before[-1][0]
        # As the schemas load them: the temperature a Decimal (bulk COPYs it as numeric).
        fresh = {"user_id": 1, "school_id": 1, "type": "checkin", "temperature": Decimal("36.6")}
        made, new = record_attendance({**fresh, "timestamp": now}, "brand-new")
        retry, again = record_attendance({**fresh, "timestamp": now}, "key-2")
        other, _ = record_attendance({**fresh, "user_id": 2, "school_id": 2}, "key-2")
        late, late_new = record_attendance({**fresh, "timestamp": stamps[2]}, "key-5")
        db.session.commit()
        assert new and made.id > last
        assert (again, retry.id) == (False, keyed[(1, "key-2")][0])
        assert other.id == keyed[(2, "key-2")][0] != retry.id
        assert (late_new, late.id) == (False, keyed[(1, "key-5")][0])
        outcomes = record_many(
            [{**fresh, "timestamp": stamps[3], "client_event_id": "key-4"},
             {**fresh, "timestamp": stamps[3], "client_event_id": "bulk-new"}]
        )  # fmt: skip
        db.session.commit()
        assert outcomes[0].status == DUPLICATE and outcomes[0].id == keyed[(1, "key-4")][0]
        assert outcomes[1].status == "created" and outcomes[1].id > made.id
        after = rows()
        assert len(after) == len(before) + 2

        downgrade(revision="0011")
        assert rows() == after
        import pytest
        from sqlalchemy.exc import IntegrityError

        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO attendances (user_id, school_id, type, timestamp,"
                    " temperature, received_at, idempotency_key)"
                    " VALUES (1, 1, 'checkin', :t, 36.6, :t, 'bulk-new')"
                ),
                {"t": now},
            )
        upgrade()
        assert rows() == after
    finally:
        db.session.remove()
        upgrade()  # whatever happened, the other tests need the head schema


def test_upgrade_deletes_the_keys_whose_event_is_gone(db, make_event):
    """0013 -> 0014: the keys of events deleted by hand go (a retry would find them taken
    by nothing); the keys of stored events stay."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import delete, select

    from attendance.models import Attendance, AttendanceKey

    events = [make_event(idempotency_key=f"k{n}") for n in range(3)]
    for event in events:
        db.session.add(
            AttendanceKey(
                school_id=event.school_id,
                idempotency_key=event.idempotency_key,
                attendance_id=event.id,
                timestamp=event.timestamp,
            )
        )
    db.session.commit()
    expected = {(e.school_id, e.idempotency_key) for e in events[1:]}
    db.session.execute(delete(Attendance).where(Attendance.id == events[0].id))  # by hand
    db.session.commit()
    db.session.remove()
    try:
        downgrade(revision="0013")
        upgrade()
    finally:
        db.session.remove()
        upgrade()  # whatever happened, the other tests need the head schema
    keys = db.session.execute(select(AttendanceKey.school_id, AttendanceKey.idempotency_key))
    assert {tuple(key) for key in keys} == expected
