"""Pooled connections are pinged before use only after sitting idle."""

from __future__ import annotations

import pytest
from sqlalchemy import text


@pytest.fixture
def engine(app, db):
    """The app's engine with an empty pool, so that every checkout reuses one connection."""
    db.session.remove()
    db.engine.dispose()
    return db.engine


def use(engine):
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def test_busy_connections_are_not_pinged_idle_ones_are(engine, monkeypatch):
    pings = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda dbapi_conn: pings.append(1) or True)
    clock = [1000.0]
    monkeypatch.setattr("attendance.dbsetup.time.monotonic", lambda: clock[0])
    use(engine)
    use(engine)
    assert pings == []
    clock[0] += 11  # idle for longer than DB_PING_AFTER_IDLE
    use(engine)
    assert pings == [1]


def test_a_connection_dropped_while_idle_is_replaced(engine, monkeypatch):
    dbapi_error = engine.dialect.loaded_dbapi.OperationalError

    def dead(dbapi_conn):
        raise dbapi_error("server closed the connection")

    use(engine)
    clock = [2000.0]
    monkeypatch.setattr("attendance.dbsetup.time.monotonic", lambda: clock[0])
    use(engine)  # checked in at 2000
    clock[0] += 60
    monkeypatch.setattr(engine.dialect, "do_ping", dead)
    before = engine.pool.checkedin()
    with engine.connect() as conn:  # the dead one is thrown away, a new one is made
        monkeypatch.undo()
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert engine.pool.checkedin() == before
