"""One Redis round trip per API request: the write rate limit's count and the token cache.

Each web process keeps the tokens it has seen (SHA-256 -> who it is), so a request does
not look its token up in the database. The cache is only used while a version stored in
Redis is the one it was filled under, and that version is read on every request in the
same script call that counts the write against the token's rate limit: one round trip
for both. Revoking a token (or deleting a school, whose tokens go with it) changes the
version (`token_changes`), so every process drops its cache at its very next request.

The protocol, so that no request ever trusts a stale entry:

- A request reads the version first and caches what it then loads from the database
  under that version; an entry is used only while the version is unchanged.
- Before a transaction that changes tokens commits, the version is set to CHANGING (for
  a minute at most); while it is, nobody uses or fills the cache. If Redis cannot be
  told, the transaction is refused: better an error than a revoked token still let in.
- After the commit, the version is replaced by a fresh random value: every entry made
  before is stale. Should that fail, CHANGING expires and the next request sets a
  fresh value.
- Without Redis (none configured, or unreachable), there is no cache: every request
  looks its token up in the database, and writes are counted in the process's memory.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from limits import RateLimitItem, parse

if TYPE_CHECKING:
    import datetime as dt

    from .principals import Principal

log = logging.getLogger(__name__)

CHANGING = "changing"
CHANGING_SECONDS = 60
# After Redis failed, this process counts in memory (and caches nothing) this long
# before it tries again: a dead Redis must not cost each request a timeout.
RETRY_AFTER_FAILURE = 5.0
REDIS_TIMEOUT = 1.0
MAX_ENTRIES = 10_000  # tokens per process; past that the cache starts over

# KEYS[1]: the version; KEYS[2] (writes): the token's counter. ARGV[1]: a fresh version,
# ARGV[2]: the window in seconds. Returns the version, then the count and the counter's
# time to live in milliseconds.
_SCRIPT = """
local version = redis.call('GET', KEYS[1])
if not version then
  redis.call('SET', KEYS[1], ARGV[1])
  version = ARGV[1]
end
if #KEYS < 2 then
  return {version}
end
local count = redis.call('INCR', KEYS[2])
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  ttl = tonumber(ARGV[2]) * 1000
end
return {version, count, ttl}
"""


@dataclass(frozen=True, slots=True)
class Known:
    """A cached token: who it is, when it was last recorded as used, and under which version."""

    principal: Principal
    last_used_at: dt.datetime | None
    version: str


@dataclass(frozen=True, slots=True)
class Checked:
    """What the round trip found: the cache's version (None: do not cache) and the count."""

    version: str | None
    count: int | None = None
    reset_in: float = 0.0  # seconds until the counter's window ends


class MemoryCounter:
    """Fixed-window counters in this process (no Redis, or Redis unreachable)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, window: int) -> tuple[int, float]:
        """Count one hit; returns the count and the seconds until the window ends."""
        now = time.monotonic()
        with self._lock:
            ends, count = self._windows.get(key, (0.0, 0))
            if ends <= now:
                if len(self._windows) > MAX_ENTRIES:
                    self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
                ends, count = now + window, 0
            self._windows[key] = (ends, count + 1)
        return count + 1, ends - now


class Gate:
    """The per-process token cache and write counter of one app."""

    def __init__(self, redis_url: str | None, limit: str, prefix: str) -> None:
        self.limit: RateLimitItem | None = parse(limit) if limit else None
        self.prefix = prefix
        self.version_key = f"{prefix}/token-version"
        self.memory = MemoryCounter()
        self._known: dict[str, Known] = {}
        self._redis: Any = None
        self._script: Callable[..., Any] | None = None
        self._down_until = 0.0
        if redis_url:
            from redis import Redis

            self._redis = Redis.from_url(
                redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
            self._script = self._redis.register_script(_SCRIPT)

    # -- per request --------------------------------------------------------------------

    def known(self, digest: str) -> Known | None:
        """The cached entry of a token hash, if any (still to be checked against the version)."""
        return self._known.get(digest)

    def check(self, bucket: str | None) -> Checked:
        """Read the version and, for a write (`bucket`), count it: one round trip."""
        window = self.limit.get_expiry() if self.limit is not None else 0
        if self.limit is None:
            bucket = None  # nothing to count
        if self._script is not None and time.monotonic() >= self._down_until:
            keys = [self.version_key]
            if bucket is not None:
                keys.append(f"{self.prefix}/write/{bucket}")
            try:
                reply = self._script(keys=keys, args=[secrets.token_hex(8), window])
            except Exception as error:  # noqa: BLE001 - Redis trouble: count in memory
                self._redis_failed(error)
            else:
                value = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
                version = None if value == CHANGING else value
                if bucket is None:
                    return Checked(version)
                return Checked(version, int(reply[1]), int(reply[2]) / 1000)
        if bucket is None:
            return Checked(None)
        count, reset_in = self.memory.hit(f"write/{bucket}", window)
        return Checked(None, count, reset_in)

    def remember(self, digest: str, principal: Principal, last_used_at: Any, version: str) -> None:
        """Cache a token loaded from the database under the version read before loading it."""
        if len(self._known) >= MAX_ENTRIES:
            self._known = {}
        self._known[digest] = Known(principal, last_used_at, version)

    def touched(self, digest: str, when: dt.datetime) -> None:
        """The token's use was recorded at `when`."""
        entry = self._known.get(digest)
        if entry is not None:
            self._known[digest] = replace(entry, last_used_at=when)

    def over_limit(self, checked: Checked) -> bool:
        """True when the counted write is past the limit."""
        return (
            self.limit is not None
            and checked.count is not None
            and checked.count > self.limit.amount
        )

    def retry_after(self, checked: Checked) -> int:
        """Whole seconds until the window ends (at least 1)."""
        return max(1, math.ceil(checked.reset_in))

    def _redis_failed(self, error: Exception) -> None:
        log.warning("rate limit and token cache: Redis failed (%s)", type(error).__name__)
        self._down_until = time.monotonic() + RETRY_AFTER_FAILURE
        self._known = {}

    # -- when tokens change -------------------------------------------------------------

    @property
    def shared(self) -> bool:
        """True when the processes share a version in Redis (else there is no cache)."""
        return self._redis is not None

    def changing(self) -> None:
        """Before a commit that changes tokens: nobody caches until `changed`. Raises if
        Redis cannot be told (the commit must not go ahead)."""
        self._known = {}
        if self._redis is not None:
            self._redis.set(self.version_key, CHANGING, ex=CHANGING_SECONDS)

    def changed(self) -> None:
        """After the commit: a fresh version, so every entry made before is stale."""
        self._known = {}
        if self._redis is None:
            return
        try:
            self._redis.set(self.version_key, secrets.token_hex(8))
        except Exception as error:  # noqa: BLE001 - CHANGING expires; caching resumes then
            log.warning("token cache: could not set a new version (%s)", type(error).__name__)

    def close(self) -> None:
        """Close the connections to Redis (an app that is done with, e.g. in tests)."""
        if self._redis is not None:
            self._redis.close()
