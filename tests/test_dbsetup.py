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


# -- each thread's autocommit connection (the check-in's statement) -------------------------


def postgres_only(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the autocommit connection serves PostgreSQL's one-statement check-in")


def test_a_thread_keeps_one_autocommit_connection(engine):
    import threading

    from attendance.dbsetup import autocommit_connection, drop_autocommit_connection

    postgres_only(engine)
    first = autocommit_connection(engine)
    assert first.autocommit
    assert autocommit_connection(engine) is first  # kept, not taken from the pool again
    assert first.execute("SELECT 1").fetchone() == (1,)
    others = []
    thread = threading.Thread(target=lambda: others.append(autocommit_connection(engine)))
    thread.start()
    thread.join()
    assert others[0] is not first
    del thread
    import gc

    gc.collect()
    assert others[0].closed  # the thread is gone, its connection closed with it
    drop_autocommit_connection(engine)
    assert first.closed
    assert autocommit_connection(engine) is not first


def test_an_idle_autocommit_connection_that_died_is_replaced(engine, monkeypatch):
    from attendance.dbsetup import autocommit_connection, drop_autocommit_connection

    postgres_only(engine)
    clock = [3000.0]
    monkeypatch.setattr("attendance.dbsetup.time.monotonic", lambda: clock[0])
    first = autocommit_connection(engine)
    clock[0] += 5
    assert autocommit_connection(engine) is first  # busy: not pinged
    clock[0] += 60

    def dead(dbapi_conn):
        raise engine.dialect.loaded_dbapi.OperationalError("server closed the connection")

    monkeypatch.setattr(engine.dialect, "do_ping", dead)
    second = autocommit_connection(engine)
    assert second is not first and first.closed
    monkeypatch.undo()
    assert second.execute("SELECT 1").fetchone() == (1,)
    drop_autocommit_connection(engine)


def test_a_disposed_engine_closes_the_thread_s_connection(engine):
    from attendance.dbsetup import autocommit_connection

    postgres_only(engine)
    connection = autocommit_connection(engine)
    engine.dispose()
    assert connection.closed


def test_a_forked_child_neither_uses_nor_closes_its_parent_s_connection(engine, monkeypatch):
    from attendance import dbsetup

    postgres_only(engine)
    parents = dbsetup.autocommit_connection(engine)
    monkeypatch.setattr("attendance.dbsetup.os.getpid", lambda: -1)  # as in a forked child
    own = dbsetup.autocommit_connection(engine)
    assert own is not parents and not parents.closed
    assert dbsetup._inherited[-1] is parents
    monkeypatch.undo()
    dbsetup._inherited.remove(parents)
    parents.close()
    dbsetup.drop_autocommit_connection(engine)  # the "child's", made under pid -1
    own.close()
