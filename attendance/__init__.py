"""attendance: a school attendance service."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from . import config as settings
from .ops.logs import ORJSON_PASSTHROUGH


class App(Flask):
    """Flask, deciding once per function whether it is a coroutine function.

    Flask asks `ensure_sync` about every hook, view and signal receiver it calls: about
    fifteen times per request, each an `inspect.iscoroutinefunction` that unwraps and
    inspects the function again. The answer never changes for a function, so it is kept
    (by the function behind a bound method: a class-based view is a new instance each
    request). Flask's docs name `ensure_sync` as the method to override.
    """

    # Hooks, views and receivers are few; functions made per request (`after_this_request`)
    # are not, so past this many the memo starts over rather than grow.
    SYNC_MEMO_MAX = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._coroutine: dict[Any, bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        key = getattr(func, "__func__", func)
        try:
            is_coroutine = self._coroutine[key]
        except KeyError:
            is_coroutine = inspect.iscoroutinefunction(func)
            if len(self._coroutine) >= self.SYNC_MEMO_MAX:
                self._coroutine.clear()
            self._coroutine[key] = is_coroutine
        except TypeError:  # an unhashable callable: asked each time, as Flask does
            is_coroutine = inspect.iscoroutinefunction(func)
        return self.async_to_sync(func) if is_coroutine else func


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Make the app: defaults, then the environment, then `config` (tests)."""
    app = App(__name__, instance_relative_config=True)
    app.config.from_object(settings.Config)
    app.config.update(settings.from_env(os.environ))
    # Any setting can also come as ATTENDANCE_<NAME> (values parsed as JSON when they can be).
    app.config.from_prefixed_env("ATTENDANCE")
    app.config.update(config or {})
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "attendance.sqlite")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    _fast_json(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # Sessions in UTC: instants come back as datetime.timezone.utc, nothing to convert.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {"options": "-c timezone=UTC", **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    settings.check(app.config)
    app.json = _JSONProvider(app)
    app.json.sort_keys = False
    app.debug = app.config["ATTENDANCE_ENV"] == "development" and app.debug
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security(app)
    register_commands(app)
    register_ops(app)
    return app


class _JSONProvider(DefaultJSONProvider):
    """Request bodies parsed by orjson: a bulk batch of 5,000 events is about a megabyte,
    which the standard library takes 66 ms to parse. What orjson refuses (integers past
    64 bits, lone surrogates) goes to the standard library, so every body parses as
    before and the validation, not the parser, names what is wrong. What neither can take
    (nesting past the recursion limit, integers of over 4,300 digits) is a JSONDecodeError
    saying so: a malformed body (400), never a 500.

    Answers are written by orjson too, compact as Flask writes them: dates, dataclasses
    and subclasses of the basic types go to Flask's own conversion (`default`), and what
    orjson refuses (lone surrogates, keys that are not text) to the standard library.
    Non-ASCII text is written as UTF-8 rather than escaped."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == _COMPACT:  # an answer (`response`), not a caller's own options
            try:
                return orjson.dumps(obj, default=self.default, option=ORJSON_PASSTHROUGH).decode()
            except TypeError:
                pass
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        import json

        if not kwargs:
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                pass
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            reason = "it is nested too deeply"
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise
        except ValueError:  # int() refuses to read so many digits (CVE-2020-10735)
            reason = f"a number has more than {sys.get_int_max_str_digits()} digits"
        text = s if isinstance(s, str) else s.decode("utf-8", "replace")
        raise json.JSONDecodeError(reason, text or " ", 0)


_COMPACT = {"separators": (",", ":")}


def _json_dumps(value: Any) -> str:

    return orjson.dumps(value).decode()


def _fast_json(app: Flask) -> None:
    """orjson for the database's JSON columns: report chunks hold thousands of rows each."""

    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    options.setdefault("json_serializer", _json_dumps)
    options.setdefault("json_deserializer", orjson.loads)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def register_extensions(app: Flask) -> None:
    from .extensions import csrf, db, migrate

    db.init_app(app)
    csrf.init_app(app)
    migrate.init_app(app, db, render_as_batch=True)
    from . import dbsetup

    dbsetup.init_app(app)


def register_blueprints(app: Flask) -> None:
    from . import api, dashboard

    api.init_app(app)
    dashboard.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    from . import errors

    errors.init_app(app)


def register_security(app: Flask) -> None:
    from . import security

    security.init_app(app)


def register_ops(app: Flask) -> None:
    from . import ops

    ops.init_app(app)


def register_commands(app: Flask) -> None:
    from . import cli

    cli.init_app(app)
