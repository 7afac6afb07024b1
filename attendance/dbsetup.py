"""Per-connection database settings: foreign keys and sane transactions on SQLite."""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask
from sqlalchemy import event
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


def init_app(app: Flask) -> None:
    """Install the listeners once per process (they act on SQLite connections only)."""
    global _installed
    if not _installed:
        event.listen(Engine, "connect", _on_connect)
        event.listen(Engine, "begin", _on_begin)
        _installed = True
