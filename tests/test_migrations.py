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
