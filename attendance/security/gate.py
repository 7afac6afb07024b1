"""The per-process token cache and the write rate limit, with no Redis round trip per request.

Each web process keeps the tokens it has seen (SHA-256 -> who it is), so a request does
not look its token up in the database. An entry is used only while the version it was
filled under is still the current one. That version lives in Redis; a process learns it
from its listener thread (security/pushed.py), which token changes are announced to and
wait for, so a request asks Redis nothing. While the listener is not confirmed (just
started, Redis lost), the request reads the version from Redis itself, in the call that
also counts its write.

The protocol, so that no request ever trusts a stale entry:

- A request reads the version first and caches what it then loads from the database
  under that version; an entry is used only while the version is unchanged.
- Before a transaction that changes tokens commits, the version is set to CHANGING (for
  a minute at most) and that is announced to every listening process, which waits for
  them all; while it is, nobody uses or fills the cache. If Redis cannot be told, the
  transaction is refused: better an error than a revoked token still let in.
- After the commit, the version is replaced by a fresh random value (and announced):
  every entry made before is stale. Should that fail, CHANGING expires and a fresh
  value is made then.
- Without Redis (none configured, or unreachable), there is no cache: every request
  looks its token up in the database, and writes are counted in the process's memory.

Writes are counted in Redis, shared by the processes, in fixed windows. A process takes
a lease of LEASE writes of a token's window at a time (one INCRBY, which numbers them),
and lets a write through while its number is within the limit: no token ever gets past
its limit. Leases cost exactness the other way only: writes leased by one process and
not used there are lost to the others, so a token spread over P processes may be
refused up to (P - 1) x (LEASE - 1) writes before its limit, in the worst case. LEASE is
a hundredth of the limit (at most 50; 1, exact, for limits under 200).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from limits import RateLimitItem, parse

from . import pushed
from .pushed import CHANGING

if TYPE_CHECKING:
    import datetime as dt

    from .principals import Principal

log = logging.getLogger(__name__)

CHANGING_SECONDS = 60
# After Redis failed, this process counts in memory (and caches nothing) this long
# before it tries again: a dead Redis must not cost each request a timeout.
RETRY_AFTER_FAILURE = 5.0
REDIS_TIMEOUT = 1.0
MAX_ENTRIES = 10_000  # tokens per process; past that the cache starts over
LEASE_SHARE = 100  # a lease is this fraction of the limit...
LEASE_MAX = 50  # ...and at most this many writes

# KEYS[1]: the version; KEYS[2] (writes): the token's counter. ARGV[1]: a fresh version,
# ARGV[2]: the window in seconds, ARGV[3]: how many writes to count. Returns the
# version (read as pushed.py reads it), then the count and the counter's time to live
# in milliseconds.
_SCRIPT = (
    pushed.READ_VERSION
    + """
if #KEYS < 2 then
  return {version}
end
local count = redis.call('INCRBY', KEYS[2], ARGV[3])
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  ttl = tonumber(ARGV[2]) * 1000
end
return {version, count, ttl}
"""
)


@dataclass(frozen=True, slots=True)
class Known:
    """A cached token: who it is, when it was last recorded as used, and under which version."""

    principal: Principal
    last_used_at: dt.datetime | None
    version: str


@dataclass(frozen=True, slots=True)
class Checked:
    """The cache's version (None: do not cache) and, for a write, its number in its window."""

    version: str | None
    count: int | None = None
    reset_in: float = 0.0  # seconds until the counter's window ends


class Lease:
    """Writes of one token's window taken by this process: numbers `next` to `end`."""

    __slots__ = ("end", "lock", "next", "until")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next = 1
        self.end = 0
        self.until = 0.0  # when the window ends (time.monotonic), at the latest


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


def lease_size(limit: RateLimitItem | None) -> int:
    """How many writes a process counts in one round trip."""
    if limit is None:
        return 1
    return max(1, min(LEASE_MAX, limit.amount // LEASE_SHARE))


class Gate:
    """The per-process token cache and write counter of one app."""

    def __init__(self, redis_url: str | None, limit: str, prefix: str) -> None:
        self.limit: RateLimitItem | None = parse(limit) if limit else None
        self.lease = lease_size(self.limit)
        self.prefix = prefix
        self.version_key = pushed.version_key(prefix)
        self.memory = MemoryCounter()
        self._known: dict[str, Known] = {}
        self._leases: dict[str, Lease] = {}
        self._redis: Any = None
        self._script: Any = None
        self._listener: pushed.Listener | None = None
        self._down_until = 0.0
        if redis_url:
            from redis import Redis

            self._redis = Redis.from_url(
                redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
            self._script = self._redis.register_script(_SCRIPT)
            self._listener = pushed.Listener(redis_url, prefix, REDIS_TIMEOUT)

    # -- per request --------------------------------------------------------------------

    def known(self, digest: str) -> Known | None:
        """The cached entry of a token hash, if any (still to be checked against the version)."""
        return self._known.get(digest)

    def check(self, bucket: str | None) -> Checked:
        """The version to check the cache against and, for a write (`bucket`), its count:
        from this process's listener and lease when it can, else in one round trip."""
        window = self.limit.get_expiry() if self.limit is not None else 0
        if self.limit is None:
            bucket = None  # nothing to count
        listener = self._listener
        if listener is None or time.monotonic() < self._down_until:
            return self._in_memory(bucket, window)
        listener.start()
        version = listener.version()
        try:
            if version is not None:
                if bucket is None:
                    return Checked(version)
                count, reset_in = self._leased(bucket, window)
                return Checked(version, count, reset_in)
            # Not confirmed: the version from Redis, in the call that counts the write.
            keys = [self.version_key]
            if bucket is not None:
                keys.append(self._counter(bucket))
            reply = self._script(keys=keys, args=[pushed.new_version(), window, 1])
        except Exception as error:  # noqa: BLE001 - Redis trouble: count in memory
            self._redis_failed(error)
            return self._in_memory(bucket, window)
        version = pushed.version_of(reply[0])
        if bucket is None:
            return Checked(version)
        return Checked(version, int(reply[1]), int(reply[2]) / 1000)

    def _leased(self, bucket: str, window: int) -> tuple[int, float]:
        """The write's number in its window, from this process's lease (a new lease when
        it is used up or its window is over), and the seconds until the window ends."""
        lease = self._leases.get(bucket)
        if lease is None:
            if len(self._leases) >= MAX_ENTRIES:
                self._leases = {}
            lease = self._leases.setdefault(bucket, Lease())
        with lease.lock:
            now = time.monotonic()
            if lease.next > lease.end or now >= lease.until:
                reply = self._script(
                    keys=[self.version_key, self._counter(bucket)],
                    args=[pushed.new_version(), window, self.lease],
                )
                count = int(reply[1])
                # From before the call: the window cannot end later than this here.
                lease.next, lease.end, lease.until = (
                    count - self.lease + 1,
                    count,
                    now + int(reply[2]) / 1000,
                )
            number = lease.next
            lease.next += 1
            return number, lease.until - now

    def _counter(self, bucket: str) -> str:
        """The Redis key counting a token's writes."""
        return f"{self.prefix}/write/{bucket}"

    def _in_memory(self, bucket: str | None, window: int) -> Checked:
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
        self._leases = {}

    @property
    def listening(self) -> bool:
        """True while this process has the version pushed to it (no round trip per request)."""
        return self._listener is not None and self._listener.version() is not None

    # -- when tokens change -------------------------------------------------------------

    @property
    def shared(self) -> bool:
        """True when the processes share a version in Redis (else there is no cache)."""
        return self._redis is not None

    def changing(self) -> None:
        """Before a commit that changes tokens: nobody caches until `changed`. Returns once
        every web process has heard; raises if Redis cannot be told (the commit must not
        go ahead)."""
        self._known = {}
        if self._redis is not None:
            self._redis.set(self.version_key, CHANGING, ex=CHANGING_SECONDS)
            pushed.announce(self._redis, self.prefix, CHANGING)

    def changed(self) -> None:
        """After the commit: a fresh version, so every entry made before is stale."""
        self._known = {}
        if self._redis is None:
            return
        version = pushed.new_version()
        try:
            self._redis.set(self.version_key, version)
            pushed.publish(self._redis, self.prefix, version)
        except Exception as error:  # noqa: BLE001 - CHANGING expires; caching resumes then
            log.warning("token cache: could not set a new version (%s)", type(error).__name__)

    def close(self) -> None:
        """Stop listening and close the connections to Redis (an app that is done with)."""
        if self._listener is not None:
            self._listener.stop()
        if self._redis is not None:
            self._redis.close()
