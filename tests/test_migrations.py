"""The migrations build exactly the schema the models describe, on the test database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext


def test_models_match_migrations(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
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
