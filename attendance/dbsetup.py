"""Per-connection database settings: foreign keys and sane transactions on SQLite, a
liveness check for pooled connections that have been idle, and each thread's own
autocommit connection for statements that are a transaction by themselves.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from typing import Any

from flask import Flask
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

_installed = False


def _on_connect(dbapi_connection: Any, record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        # Let SQLAlchemy emit BEGIN itself, so SAVEPOINT works (pysqlite's own handling breaks it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def _on_begin(connection: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it has been idle for
    DB_PING_AFTER_IDLE seconds (`_check_if_idle`).

    SQLAlchemy's pool_pre_ping pings on every checkout: one more round trip on every
    request, the largest fixed cost of recording a check-in after the statement itself.
    A connection in steady use has just proved itself; one that sat idle may have been
    dropped by the server, a restart or a firewall, and is checked as pre_ping would.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        _check_if_idle(engine, dbapi_connection, since, time.monotonic())


def _check_if_idle(engine: Engine, dbapi_connection: Any, since: float | None, now: float) -> None:
    """Ping a connection unused since `since` (time.monotonic()) when that is
    DB_PING_AFTER_IDLE seconds or more before `now`: DisconnectionError if it is dead.
    For pooled connections (the pool then replaces it) and autocommit ones alike."""
    idle = _ping_after.get(engine)
    if idle is None or since is None or now - since < idle:
        return
    try:
        engine.dialect.do_ping(dbapi_connection)
    except engine.dialect.loaded_dbapi.Error as error:
        raise exc.DisconnectionError(f"connection dropped while idle: {error}") from error


class _Held:
    """A thread's autocommit connection to one engine's database, closed when the thread
    (or the engine) is gone."""

    __slots__ = ("connection", "pid", "used")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.pid = os.getpid()
        self.used = time.monotonic()

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and self.pid == os.getpid():  # never a parent's
            _close(connection)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit: the socket goes anyway
            pass


_local = threading.local()
_ping_after: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
# Connections a forked child found in its thread: its parent's, never to be used or
# closed here (closing would end the parent's session); kept so they are not collected.
_inherited: list[Any] = []


def autocommit_connection(engine: Engine) -> Any:
    """This thread's own DBAPI connection to `engine`'s database, in autocommit.

    For a statement that is a transaction by itself (a check-in as it happens,
    services/attendances.py): a pool checkout and check-in, and setting and unsetting
    autocommit around it, cost a fifth of such a request. The connection is taken out of
    the engine's pool once (made by it, with its settings) and kept by the thread: each
    web thread holds one more connection than the pool's. Like pooled ones, it is pinged
    when it has been idle for DB_PING_AFTER_IDLE seconds; one that fails is replaced.
    Use it only for statements that commit by themselves, and call
    `drop_autocommit_connection` after an error, so a broken connection is not used again.
    """
    held: weakref.WeakKeyDictionary[Engine, _Held] | None = getattr(_local, "held", None)
    if held is None:
        held = _local.held = weakref.WeakKeyDictionary()
    entry = held.get(engine)
    now = time.monotonic()
    if entry is not None and entry.pid != os.getpid():
        _inherited.append(entry.connection)  # kept: collected, it would close the parent's
        entry.connection = None
        entry = None
    if entry is not None:
        try:
            _check_if_idle(engine, entry.connection, entry.used, now)
        except exc.DisconnectionError:
            entry.close()
            entry = None
    if entry is None:
        pooled = engine.raw_connection()
        connection: Any = pooled.driver_connection
        pooled.detach()  # the pool forgets it: it is this thread's from now on
        connection.autocommit = True
        entry = held[engine] = _Held(connection)
    entry.used = now
    return entry.connection


def drop_autocommit_connection(engine: Engine) -> None:
    """Close this thread's autocommit connection (after an error): the next use opens one."""
    held = getattr(_local, "held", None)
    entry = held.pop(engine, None) if held is not None else None
    if entry is not None:
        entry.close()


def _close(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001, S110 - closing a connection that failed: nothing to do
        pass


def init_app(app: Flask) -> None:
    """Install the SQLite listeners once per process, and the idle ping on the app's engines."""
    global _installed
    if not _installed:
        event.listen(Engine, "connect", _on_connect)
        event.listen(Engine, "begin", _on_begin)
        _installed = True
    from .extensions import db

    idle = app.config.get("DB_PING_AFTER_IDLE")
    if idle is not None:
        with app.app_context():
            for engine in db.engines.values():
                _ping_after[engine] = idle
                _ping_after_idle(engine)
    with app.app_context():
        for engine in db.engines.values():
            # A disposed engine (an app that is done with) takes this thread's with it.
            event.listen(engine, "engine_disposed", drop_autocommit_connection)
