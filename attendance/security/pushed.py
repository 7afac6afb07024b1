"""Token changes pushed to every web process, so that a request asks Redis nothing.

Each web process runs one listener thread, subscribed to the token changes of its app
(`{prefix}/token-changes`). Whoever changes tokens announces it there (`announce`) and
waits until every listening process has applied it; the version a process's token
cache is checked against (security/gate.py) is then the one pushed to it.

What makes "refused at the very next request" hold without a question to Redis:

- **Trust that lapses by itself.** A listener pings Redis over its subscription every
  PING_EVERY seconds, and its process trusts the pushed version only until TRUST
  seconds after the last ping whose answer it has read (measured from when the ping
  was sent). Redis answers in order, so an answer read means every announcement sent
  before it was read too. A process whose listener is stuck, cut off or gone stops
  trusting within TRUST seconds and asks Redis on every request instead, as it would
  without a listener.
- **A register of who may trust.** Before each ping, a listener enters itself in a
  sorted set for twice TRUST (by Redis's clock), so its entry outlives any trust that
  ping can give.
- **Acknowledged announcements.** `announce` publishes, then waits until every listener
  still in the register has acknowledged (it applies a change before it acknowledges
  it); one whose entry expires first had stopped trusting already. A listener that
  subscribes after an announcement reads the version itself, after subscribing.

So when `announce` returns, no process uses what it cached before: it has applied the
change or it asks Redis at each request. Token changes announce "changing" this way
before they commit (security/gate.py): a request that starts after the commit finds
the version changing (no cache) or new.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import weakref
from typing import Any

log = logging.getLogger(__name__)

CHANGING = "changing"  # the version while tokens are being changed: nobody caches
TRUST = 1.0  # seconds a pushed version is trusted after the ping that confirmed it was sent
PING_EVERY = 0.2  # seconds between pings (each also renews the register entry)
ANNOUNCE_TIMEOUT = 3 * TRUST  # past this an announcement fails: the change is not committed
RECONNECT_AFTER = 0.5  # seconds a listener waits after losing Redis, before trying again

# Enters a listener in the register until twice TRUST from now, by Redis's clock.
# KEYS[1]: the register. ARGV[1]: the listener's id, ARGV[2]: TRUST in milliseconds.
_ENTER = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms + 2 * tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
"""
# The registered listeners that have not acknowledged an announcement (expired ones
# dropped). KEYS[1]: the register, KEYS[2]: the announcement's acknowledgements.
_PENDING = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
local pending = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('SISMEMBER', KEYS[2], id) == 0 then
    table.insert(pending, id)
  end
end
return pending
"""
# The start of every script that reads the version (this module's, and the gate's that
# also counts a write): `version` is the stored one, made (a fresh value, `new_version`)
# if there is none. KEYS[1]: the version (`version_key`), ARGV[1]: a fresh value.
READ_VERSION = """
local version = redis.call('GET', KEYS[1])
if not version then
  redis.call('SET', KEYS[1], ARGV[1])
  version = ARGV[1]
end
"""
_VERSION = READ_VERSION + "return version\n"
_ACK_SECONDS = 60  # how long acknowledgements are kept (an announcement waits far less)


UNACKNOWLEDGED = "-"  # the id of an announcement nobody waits for


def publish(redis: Any, prefix: str, value: str) -> None:
    """Announce a new version without waiting: for a change whose "changing" was announced."""
    redis.publish(channel(prefix), f"{UNACKNOWLEDGED} {value}")


def version_key(prefix: str) -> str:
    """Where an app's token version is kept: a random value (`new_version`) replaced
    whenever tokens change, CHANGING while they are being changed."""
    return f"{prefix}/token-version"


def new_version() -> str:
    """A fresh version: every cache entry made under another is stale."""
    return secrets.token_hex(8)


def version_of(value: Any) -> str | None:
    """A version as Redis answers it; None while tokens are changing (nobody caches)."""
    if isinstance(value, bytes):
        value = value.decode()
    return None if value == CHANGING else str(value)


def channel(prefix: str) -> str:
    """Where an app's token changes are published."""
    return f"{prefix}/token-changes"


def _register(prefix: str) -> str:
    return f"{prefix}/token-listeners"


def _announcements(prefix: str) -> str:
    return f"{prefix}/token-announcements"


def _acks(prefix: str, ident: str) -> str:
    return f"{prefix}/token-acks/{ident}"


def announce(redis: Any, prefix: str, value: str) -> None:
    """Publish a new version (or "changing") and return once every process that could be
    trusting its old one has applied it. Raises if Redis cannot be told, or if a listener
    neither acknowledges nor drops out of the register in ANNOUNCE_TIMEOUT."""
    ident = secrets.token_hex(8)
    pending = redis.register_script(_PENDING)
    redis.sadd(_announcements(prefix), ident)
    redis.expire(_announcements(prefix), _ACK_SECONDS)
    keys = [_register(prefix), _acks(prefix, ident)]
    try:
        redis.publish(channel(prefix), f"{ident} {value}")
        deadline = time.monotonic() + ANNOUNCE_TIMEOUT
        while waiting := pending(keys=keys):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"token change: {len(waiting)} web process(es) did not confirm it"
                )
            time.sleep(0.002)
    finally:
        redis.srem(_announcements(prefix), ident)
        redis.delete(keys[1])


class Listener:
    """One process's subscription to its app's token changes (started on first use)."""

    def __init__(self, redis_url: str, prefix: str, timeout: float) -> None:
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: redis-py would reconnect and subscribe again by itself, and what was
        # announced in between would be lost without a word. Here a lost connection is
        # an error: the process stops trusting, then subscribes and reads the version.
        self.ident = secrets.token_hex(8)
        self._redis: Any = Redis.from_url(
            redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=f"token-listener-{self.ident}",  # in CLIENT LIST
        )
        self._prefix = prefix
        self._version_key = version_key(prefix)
        self._enter = self._redis.register_script(_ENTER)
        self._read_version = self._redis.register_script(_VERSION)
        self._version: str | None = None
        self._trusted_until = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        _listeners.add(self)

    def version(self) -> str | None:
        """The version pushed to this process while it is trusted, else None (ask Redis)."""
        if time.monotonic() < self._trusted_until:
            return self._version
        return None

    def start(self) -> None:
        """Start listening in this process, once (a forked child starts its own)."""
        if self._pid == os.getpid() or self._stop.is_set():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="token-changes", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop listening (an app that is done with); the process then asks Redis."""
        self._stop.set()
        self._trusted_until = 0.0
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * PING_EVERY + 1)
        self._redis.close()

    def forked(self) -> None:
        """In a forked child: nothing the parent's thread confirmed holds here."""
        self._trusted_until = 0.0
        self._thread = None
        self._pid = 0

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as error:  # noqa: BLE001 - Redis trouble: ask Redis per request
                self._trusted_until = 0.0
                log.warning("token changes: listener lost Redis (%s)", type(error).__name__)
                self._stop.wait(RECONNECT_AFTER)

    def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            pubsub.subscribe(channel(self._prefix))
            while not self._stop.is_set():  # until Redis confirms the subscription
                message = pubsub.get_message(timeout=PING_EVERY)
                if message is not None and message["type"] == "subscribe":
                    break
            self._subscribed()
            next_ping = 0.0
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_ping:
                    if self._version is None:
                        self._adopt()  # a change that never ended: its "changing" expires
                    self._enter(keys=[_register(self._prefix)], args=[self.ident, _ms(TRUST)])
                    pubsub.ping(repr(now))
                    next_ping = now + PING_EVERY
                message = pubsub.get_message(timeout=max(0.0, next_ping - time.monotonic()))
                if message is not None:
                    self._handle(message)
        finally:
            self._trusted_until = 0.0
            pubsub.close()

    def _subscribed(self) -> None:
        """What is announced from now on reaches us; what came before is in the version,
        read now: so the announcements under way (read before it) are acknowledged."""
        under_way = self._redis.smembers(_announcements(self._prefix))
        self._adopt()
        for ident in under_way:
            self._acknowledge(ident.decode() if isinstance(ident, bytes) else str(ident))

    def _acknowledge(self, ident: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(_acks(self._prefix, ident), self.ident)
        pipe.expire(_acks(self._prefix, ident), _ACK_SECONDS)
        pipe.execute()

    def _adopt(self) -> None:
        """Take the version from Redis (None while it is changing)."""
        self._version = version_of(
            self._read_version(keys=[self._version_key], args=[new_version()])
        )

    def _handle(self, message: dict[str, Any]) -> None:
        kind, data = message["type"], message["data"]
        if isinstance(data, bytes):
            data = data.decode()
        if kind == "pong":
            sent = float(data)
            self._trusted_until = max(self._trusted_until, sent + TRUST)
        elif kind == "subscribe":  # subscribed again: what was announced meanwhile is lost
            self._subscribed()
        elif kind == "message":
            ident, _, value = str(data).partition(" ")
            self._version = version_of(value)
            if ident != UNACKNOWLEDGED:
                self._acknowledge(ident)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


_listeners: weakref.WeakSet[Listener] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for listener in list(_listeners):
        listener.forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
