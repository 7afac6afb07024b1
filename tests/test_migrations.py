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
