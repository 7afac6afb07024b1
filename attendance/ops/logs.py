"""Log lines: one JSON object per line (or plain text), scrubbed of secrets.

The format: `LOG_FORMAT` (json or text) when set; otherwise plain text for the
development server in development (`flask serve`, what `make run` runs, and the worker
processes it starts) and JSON everywhere else: gunicorn, `flask worker`, production.

Every line carries the request id (and the job and report ids in a worker) from
`context`, so one request's line, its jobs' lines and their errors can be joined.

A small stdlib formatter rather than python-json-logger: what we need is a dozen lines
(fixed keys, the record's extras, scrubbing), and it is one dependency fewer to track.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
from typing import Any

import orjson
from flask import Flask

from . import context

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_KEYS = ("authorization", "password", "passwd", "token", "secret", "cookie", "image")
_SCRUB = [
    # Terminal colours (werkzeug's development server paints its request lines): a log
    # line is plain text, and JSON must not carry escape codes.
    (re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]"), ""),
    # Bearer and Basic credentials, wherever they appear in a message or traceback.
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"'\\,;]+"), r"\1 [redacted]"),
    # Photos sent as data URIs (the API accepts them): never their bytes in a log.
    (re.compile(r"data:[\w/+.-]*;base64,[A-Za-z0-9+/=\s]*"), "data:[redacted]"),
    # Passwords in URLs (postgresql://user:secret@host/db).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s\"']*):[^@\s\"'/]*@"), r"\1:[redacted]@"),
    # token=..., password=... in query strings or messages.
    (re.compile(r"(?i)\b(token|password|secret|api_key)=[^&\s\"'\\]+"), r"\1=[redacted]"),
]


# What each pattern above needs to match at all: text without any of it (a route, an
# id, most paths and user agents) is returned as it is after this one search.
_MAY_NEED_SCRUBBING = re.compile(r"(?i)\x1b|bearer|basic|data:|://|=")


def scrub(text: str) -> str:
    """The text with credentials, data URIs, URL passwords and terminal colours replaced."""
    if not _MAY_NEED_SCRUBBING.search(text):
        return text
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


@functools.cache
def _secret_key(key: str) -> bool:
    """True when a field of this name may hold a secret (the names are few and fixed)."""
    return any(word in key.lower() for word in _SECRET_KEYS)


def _scrub_value(key: str, value: Any) -> Any:
    if _secret_key(key):
        return "[redacted]"
    if isinstance(value, str):
        return scrub(value)
    return value


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = context.log_fields()
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = value
    return {key: _scrub_value(key, value) for key, value in fields.items()}


# orjson writes these types itself; `json.dumps(default=str)` wrote them with str(). The
# JSON answers hand them to Flask's conversion the same way (attendance/__init__.py).
ORJSON_PASSTHROUGH = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exc"] = scrub(self.formatException(record.exc_info))
        try:
            return orjson.dumps(line, default=str, option=ORJSON_PASSTHROUGH).decode()
        except TypeError:  # keys that are not text, integers past 64 bits, lone surrogates
            return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For people at a terminal: the usual line, then the extras as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        return scrub(f"{text} {extras}" if extras else text)


class StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever `sys.stderr` is at the time (it may be replaced, e.g. by pytest)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_format(app: Flask, development_server: bool = False) -> str:
    """`LOG_FORMAT` when set; else text for the development server in development, else json."""
    fmt = app.config.get("LOG_FORMAT")
    if not fmt:
        development = app.config["ATTENDANCE_ENV"] == "development"
        return "text" if development_server and development else "json"
    fmt = str(fmt).lower()
    if fmt not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT must be 'json' or 'text', not {fmt!r}")
    return fmt


def configure(app: Flask, fmt: str | None = None) -> None:
    """Send every logger's records through one handler on the root logger.

    The root, so that the app's, RQ's and the libraries' lines share one format. Calling
    it again (another app in the same process, or `flask serve` choosing text) replaces
    the handler, never adds one.
    """
    fmt = fmt or log_format(app)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(str(app.config["LOG_LEVEL"]).upper())
    # Neither format writes the caller's file and line, the thread or the process: the
    # logging HOWTO's "Optimization" is to tell logging not to look them up for each record.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Alembic announces each of its plugins at INFO whenever a process loads it.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
