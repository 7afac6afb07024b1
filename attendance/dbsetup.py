"""Per-connection database settings: foreign keys and sane transactions on SQLite, and a
liveness check for pooled connections that have been idle.
"""

from __future__ import annotations

import sqlite3
import time
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


def _ping_after_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection on checkout only when it has been idle for `idle` seconds.

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
        if since is None or time.monotonic() - since < idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(f"connection dropped while idle: {error}") from error


def init_app(app: Flask) -> None:
    """Install the SQLite listeners once per process, and the idle ping on the app's engines."""
    global _installed
    if not _installed:
        event.listen(Engine, "connect", _on_connect)
        event.listen(Engine, "begin", _on_begin)
        _installed = True
    idle = app.config.get("DB_PING_AFTER_IDLE")
    if idle is not None:
        from .extensions import db

        with app.app_context():
            for engine in db.engines.values():
                _ping_after_idle(engine, idle)
