"""Configuration: safe defaults, overridden by the environment when the app is made."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production, see check()


class Config:
    """Defaults for every setting; `from_env` layers the environment on top."""

    ATTENDANCE_ENV = "development"
    SECRET_KEY = DEV_SECRET_KEY
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: a SQLite file in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    # Pooled connections idle this long (seconds) are pinged before use (dbsetup);
    # None turns the check off. Cheaper than pool_pre_ping, which pings on every checkout.
    DB_PING_AFTER_IDLE: float | None = 10.0
    REDIS_URL: str | None = None  # None: report jobs run in-process
    RQ_QUEUES = ("reports",)
    JOBS_SYNCHRONOUS = False  # without Redis: run jobs in the caller's thread (tests)
    # A 1 MB photo is 1.4 MB as base64; the rest of an event is small.
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    IMAGE_STORAGE_DIR: str | None = None  # None: instance/images
    # Writes per token (or per address without one), shared by every write route; "" is off.
    RATELIMIT_WRITE = "600/minute"
    # How many reverse proxies sit in front and set X-Forwarded-*; 0 trusts none.
    PROXY_COUNT = 0
    # POST /api/attendances/bulk only: 5,000 events with small photos.
    BULK_MAX_CONTENT_LENGTH = 32 * 1024 * 1024
    # Roster imports (API and dashboard): 50,000 pupils are about 3 MB of CSV.
    ROSTER_MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    # Where dashboard roster uploads wait for their confirmation; None: instance/roster-uploads.
    # With several web hosts, a directory they share.
    ROSTER_UPLOAD_DIR: str | None = None
    # The report pipeline (see attendance/services/reports/).
    REPORT_CHUNK_TIMEOUT = 60
    REPORT_LEASE_GRACE = 10
    REPORT_CHUNK_ATTEMPTS = 3
    REPORT_DEADLINE = 900
    # How many seconds the aggregate endpoint waits for a report before answering 202, and
    # the most any request waits, whatever it asks for.
    REPORT_WAIT_DEFAULT = 5.0
    REPORT_WAIT_MAX = 30.0
    # How many requests of a process may wait for reports at once (each holds a thread);
    # the others are answered at once (202). Keep it well below the process's threads
    # (WEB_THREADS, 4), which gate check-ins need.
    REPORT_WAITERS = 1
    # How many seconds a dashboard page waits for its reports before showing a progress bar.
    DASHBOARD_REPORT_WAIT = 2.0
    # The district overview (every school's today): a page shows the workers' snapshot
    # while it is at most OVERVIEW_MAX_AGE seconds old (never more than 60), and the
    # workers compute a new one once it is OVERVIEW_REFRESH seconds old (0: never; pages
    # then compute the figures themselves). Only with REDIS_URL. attendance/services/overview.py
    OVERVIEW_MAX_AGE = 60
    OVERVIEW_REFRESH = 20
    # PostgreSQL: the workers (or `flask serve`'s thread) keep monthly partitions of the
    # events ready this many months after the current one, checking every
    # PARTITION_CHECK_INTERVAL seconds. attendance/jobs/partitions.py
    PARTITION_MONTHS_AHEAD = 3
    PARTITION_CHECK_INTERVAL = 3600.0
    # Failed sign-ins on the dashboard, per client address (on the rate limiter's storage),
    # and the backoff per account (attendance/security/login_throttle.py; {} = its defaults:
    # window 900 s, address_failures 5, account_failures 20, max_delay 900 s).
    DASHBOARD_LOGIN_LIMIT = "10/minute"
    DASHBOARD_LOGIN_BACKOFF: dict[str, int] = {}

    # Dashboard sessions: a signed cookie that lapses after an idle hour (Flask checks the
    # signature's age) and, however busy, twelve hours after login (checked by the dashboard).
    PERMANENT_SESSION_LIFETIME = timedelta(hours=1)
    DASHBOARD_SESSION_MAX_AGE = timedelta(hours=12)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Cookies only over HTTPS: forced on in production (attendance/security/hardening.py).
    SESSION_COOKIE_SECURE = False
    # The dashboard checks CSRF on its own forms; API routes take bearer tokens, not cookies.
    WTF_CSRF_CHECK_DEFAULT = False
    # A token lives as long as the session it is bound to (an idle hour at most).
    WTF_CSRF_TIME_LIMIT = None

    # Webhooks (docs/webhooks.md). The key that encrypts stored signing secrets: None
    # derives one from SECRET_KEY; several keys (a list, or commas) decrypt, the first
    # encrypts (rotation: put the new key first, run `flask webhooks rekey`).
    WEBHOOK_SECRET_KEY: Any = None
    # Networks whose addresses webhooks may reach although they are not public, and where
    # plain http:// is accepted (a list, or commas). None: loopback in development, none
    # in production.
    WEBHOOK_ALLOW_NETWORKS: Any = None
    WEBHOOK_TIMEOUT = 10.0  # seconds for each try: to connect, and for each read
    # Tries of a delivery: the first at once, then after 10 s, 40 s, ... (x4 each time, at
    # most 12 h apart): nine tries take about a day.
    WEBHOOK_RETRY_BASE = 10.0
    WEBHOOK_MAX_ATTEMPTS = 9
    WEBHOOK_DISABLE_AFTER = 3 * 86400  # seconds of nothing but failures: disabled
    # How many past dates a school's day close catches up after its workers were down.
    WEBHOOK_CATCHUP_DAYS = 7
    # How often the embedded thread (no REDIS_URL) closes days and runs due deliveries.
    WEBHOOK_TICK_INTERVAL = 5.0

    # Operations (see docs/operations.md).
    LOG_LEVEL = "INFO"
    # json: one object per line; text: for a terminal. None: text for `flask serve` in
    # development (make run), json everywhere else (see attendance/ops/logs.py).
    LOG_FORMAT: str | None = None
    METRICS_TOKEN: str | None = None  # a bearer token that may read /metrics from anywhere
    # Networks that may read /metrics without the token (a list, or commas in the environment).
    METRICS_ALLOW: Any = ("127.0.0.0/8", "::1/128")
    HEALTH_TIMEOUT = 2.0  # seconds each readiness check may take
    WORKER_TTL = 60  # an idle RQ worker beats every WORKER_TTL - 15 seconds
    WORKER_HEARTBEAT_MAX_AGE = 120  # seconds: an older heartbeat is a worker not seen
    READY_REQUIRE_WORKER = True  # /readyz fails when REDIS_URL is set and no worker is seen

    API_TITLE = "attendance"
    API_VERSION = "1.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    # The interactive page, /api/docs, with Swagger UI's files served by this app (see
    # attendance/api/docs.py; flask-smorest's default would load them from a CDN).
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/static/swagger-ui/"


def _database_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg 3, the driver we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment gives, by their config names."""
    settings: dict[str, Any] = {}
    if environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = _database_url(environ["DATABASE_URL"])
    if environ.get("REDIS_URL"):
        settings["REDIS_URL"] = environ["REDIS_URL"]
    if environ.get("SECRET_KEY"):
        settings["SECRET_KEY"] = environ["SECRET_KEY"]
    if environ.get("IMAGE_STORAGE_DIR"):
        settings["IMAGE_STORAGE_DIR"] = environ["IMAGE_STORAGE_DIR"]
    if environ.get("ROSTER_UPLOAD_DIR"):
        settings["ROSTER_UPLOAD_DIR"] = environ["ROSTER_UPLOAD_DIR"]
    if environ.get("RATELIMIT_WRITE") is not None:
        settings["RATELIMIT_WRITE"] = environ["RATELIMIT_WRITE"]
    if environ.get("PROXY_COUNT"):
        settings["PROXY_COUNT"] = int(environ["PROXY_COUNT"])
    if environ.get("ATTENDANCE_ENV"):
        settings["ATTENDANCE_ENV"] = environ["ATTENDANCE_ENV"]
    for name in (
        "LOG_LEVEL",
        "LOG_FORMAT",
        "METRICS_TOKEN",
        "METRICS_ALLOW",
        "WEBHOOK_SECRET_KEY",
        "WEBHOOK_ALLOW_NETWORKS",
    ):
        if environ.get(name) is not None:
            settings[name] = environ[name]
    return settings


def check(config: Mapping[str, Any]) -> None:
    """Refuse settings that are unsafe or meaningless."""
    env = config["ATTENDANCE_ENV"]
    if env not in ("development", "production"):
        raise RuntimeError(f"ATTENDANCE_ENV must be 'development' or 'production', not {env!r}")
    if env == "production":
        key = config.get("SECRET_KEY") or ""
        if key == DEV_SECRET_KEY or len(key) < 32:
            raise RuntimeError(
                "ATTENDANCE_ENV=production needs SECRET_KEY set to a random value of at least "
                "32 characters: python -c 'import secrets; print(secrets.token_hex(32))'"
            )
