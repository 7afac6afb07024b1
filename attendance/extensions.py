"""Extension objects, created unbound and bound to the app in `create_app`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so that migrations can alter them on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
# CSRF tokens for the dashboard's forms (the API authenticates with bearer tokens instead).
csrf = CSRFProtect()

# The typed base for models: db.Model at run time, which type checkers cannot see through.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


def in_transaction() -> bool:
    """True when this request's (or job's) session has a transaction open.

    Asks without making a session: a check-in recorded by a statement of its own
    (services/attendances.py) never needs one, and making one costs more than its insert.
    """
    return db.session.registry.has() and db.session().in_transaction()


def current_app_object() -> Flask:
    """The app itself behind `current_app`, to hand to a server, a thread or a child process.

    Flask types `current_app` as the Flask it stands for rather than as the proxy it is,
    so mypy does not know the proxy's own method.
    """
    return current_app._get_current_object()  # type: ignore[attr-defined]
