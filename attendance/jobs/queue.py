"""Where jobs run: RQ on Redis when `REDIS_URL` is set, otherwise a thread in this process.

Both dispatchers take the same calls, so the job code is the same in both modes.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from .. import clock
from ..extensions import current_app_object
from ..ops.context import job_meta
from ..ops.jobscope import job_scope

log = logging.getLogger(__name__)
# Seconds to open a connection to Redis: an unreachable host fails a request this fast,
# not after the system's TCP timeout (minutes), while the request holds a web thread.
CONNECT_TIMEOUT = 2.0


class QueueUnavailable(Exception):
    """The job queue (Redis) cannot take jobs now: the one error enqueueing raises.

    The API answers it 503 with Retry-After (attendance.errors); the dashboard shows
    that the figures are unavailable (attendance.dashboard.pipeline). `report_id` names
    the report that could not be queued, when there is one (it is failed, never left
    queued: see attendance.services.reports.requesting.Requested.after_commit).
    """

    # What clients are told (the API's errors.detail, the failed report's message).
    detail = (
        "Figures are unavailable right now: the report queue cannot be reached. "
        "Try again in a moment."
    )
    retry_after = 10  # seconds: long enough not to hammer a Redis being restarted

    def __init__(self, message: str, report_id: str | None = None) -> None:
        super().__init__(message)
        self.report_id = report_id


@dataclass(frozen=True)
class Call:
    """One job to enqueue."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    job_id: str
    retries: int = 0
    timeout: int = 300
    meta: dict[str, Any] = field(default_factory=dict)
    # Seconds to wait before running it: RQ's scheduler (in each `flask worker`) queues it
    # then. Without Redis a delayed call is not kept: the caller's record in the database
    # must be found by a periodic sweep instead (as webhook deliveries are).
    delay: float = 0.0


class RQDispatcher:
    """Enqueue on an RQ queue (in one pipeline: one round trip for a month's chunks)."""

    def __init__(self, redis_url: str, queue_name: str) -> None:
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(redis_url, socket_connect_timeout=CONNECT_TIMEOUT)
        self.queue = Queue(queue_name, connection=self.connection)

    def enqueue(self, *calls: Call) -> None:
        """Queue the calls (one transaction: all or none), or raise QueueUnavailable."""
        from redis.exceptions import RedisError
        from rq import Retry

        later = [call for call in calls if call.delay > 0]
        calls = tuple(call for call in calls if call.delay <= 0)
        if later:
            self._schedule(later)
        if not calls:
            return
        prepared = [
            self.queue.prepare_data(
                call.func,
                args=call.args,
                job_id=call.job_id,
                timeout=call.timeout,
                # Immediate retries: a delayed one would need RQ's scheduler process.
                retry=Retry(max=call.retries) if call.retries else None,
                # Results live in the database; RQ's copies only need to outlast a poll.
                result_ttl=600,
                failure_ttl=86400,
                meta=job_meta(call.meta) or None,
            )
            for call in calls
        ]
        try:
            with self.connection.pipeline() as pipe:
                self.queue.enqueue_many(prepared, pipeline=pipe)
                pipe.execute()
        except RedisError as error:
            # Refused, timed out, out of memory, read-only: to the caller it is all one
            # thing, the queue is not taking jobs. The cause goes to the log only (the
            # message of a connection error names the host).
            log.warning("cannot enqueue %s", calls[0].job_id, exc_info=True)
            cause = type(error).__name__
            raise QueueUnavailable(f"the job queue is unavailable ({cause})") from error

    def _schedule(self, calls: list[Call]) -> None:
        """Queue calls to run after their delay (RQ's scheduled job registry)."""
        import datetime as dt

        from redis.exceptions import RedisError

        try:
            for call in calls:
                self.queue.enqueue_in(
                    dt.timedelta(seconds=call.delay),
                    call.func,
                    *call.args,
                    job_id=call.job_id,
                    job_timeout=call.timeout,
                    result_ttl=600,
                    failure_ttl=86400,
                    meta=job_meta(call.meta) or None,
                )
        except RedisError as error:
            log.warning("cannot schedule %s", calls[0].job_id, exc_info=True)
            raise QueueUnavailable(
                f"the job queue is unavailable ({type(error).__name__})"
            ) from error

    def announce(self, report_ids: Iterable[str]) -> None:
        """Tell whoever waits for these reports that they ended (finished or failed)."""
        with self.connection.pipeline(transaction=False) as pipe:
            for report_id in report_ids:
                pipe.publish(_channel(report_id), b"ended")
            pipe.execute()

    @contextmanager
    def listen(self, report_ids: Iterable[str]) -> Iterator[Callable[[float], None]]:
        """Subscribe to the end of these reports; yields wait(seconds), which returns when
        one of them is announced or the seconds are up (whichever is first)."""
        from redis.exceptions import RedisError

        pubsub = self.connection.pubsub(ignore_subscribe_messages=True)
        try:
            try:
                pubsub.subscribe(*(_channel(r) for r in report_ids))
            except RedisError:
                # Redis unreachable: the caller still answers, looking in the database.
                log.warning("cannot subscribe to report ends; polling instead", exc_info=True)
                yield lambda seconds: time.sleep(max(min(seconds, 0.25), 0.0))
                return

            def wait(seconds: float) -> None:
                end = time.monotonic() + seconds
                # get_message also returns (None) for the subscription's confirmation.
                while (left := end - time.monotonic()) > 0:
                    if pubsub.get_message(timeout=left) is not None:
                        return

            yield wait
        finally:
            pubsub.close()

    def is_active(self, job_id: str, started_within: float) -> bool:
        """True while the job waits in the queue, or started less than `started_within` s ago.

        A job that started longer ago than that and has not yet taken its lease in the
        database belongs to a worker that died between dequeueing and starting it.
        """
        import datetime as dt

        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus

        try:
            job = Job.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            return False
        status = job.get_status(refresh=False)
        if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            return True
        if status == JobStatus.STARTED and job.started_at is not None:
            started = job.started_at.replace(tzinfo=dt.UTC)
            return clock.now() - started < dt.timedelta(seconds=started_within)
        return False


class InlineDispatcher:
    """Run jobs on one background thread of this process, in the order they are enqueued.

    A job enqueued by a running job runs after the jobs already waiting, as on an RQ
    queue with one worker.
    """

    def __init__(self, app: Flask, synchronous: bool = False) -> None:
        self.app = app
        self.synchronous = synchronous  # run in the caller's thread (tests, CLI)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attendance-jobs")
        self.local = threading.local()
        self.ended = threading.Condition()

    def enqueue(self, *calls: Call) -> None:
        # The request id is read now, in the caller's context, not on the job thread.
        # Delayed calls are left to the periodic sweep (see Call.delay).
        calls = tuple(dataclasses.replace(c, meta=job_meta(c.meta)) for c in calls if c.delay <= 0)
        backlog: collections.deque[Call] | None = getattr(self.local, "backlog", None)
        if backlog is not None:
            backlog.extend(calls)
        elif self.synchronous:
            self._run(list(calls))
        else:
            self.executor.submit(self._run, list(calls))

    def is_active(self, job_id: str, started_within: float) -> bool:
        return False

    def announce(self, report_ids: Iterable[str]) -> None:
        with self.ended:
            self.ended.notify_all()

    @contextmanager
    def listen(self, report_ids: Iterable[str]) -> Iterator[Callable[[float], None]]:
        def wait(seconds: float) -> None:
            with self.ended:  # any report's end wakes every waiter: they look again
                self.ended.wait(max(seconds, 0.0))

        yield wait

    def _run(self, calls: list[Call]) -> None:
        self.local.backlog = collections.deque(calls)
        try:
            with self.app.app_context():
                while self.local.backlog:
                    self._attempt(self.local.backlog.popleft())
        finally:
            self.local.backlog = None

    def _attempt(self, call: Call) -> None:
        for attempt in range(call.retries + 1):
            try:
                with job_scope(call.func.__name__, call.job_id, call.args, call.meta):
                    call.func(*call.args)
                return
            except Exception:
                log.exception("job %s failed (attempt %d)", call.job_id, attempt + 1)


def _channel(report_id: str) -> str:
    return f"attendance:report-ended:{report_id}"


def dispatcher() -> RQDispatcher | InlineDispatcher:
    """The app's dispatcher, made on first use."""
    ext = current_app.extensions
    if "attendance.dispatcher" not in ext:
        url = current_app.config.get("REDIS_URL")
        if url:
            ext["attendance.dispatcher"] = RQDispatcher(url, current_app.config["RQ_QUEUES"][0])
        else:
            ext["attendance.dispatcher"] = InlineDispatcher(
                current_app_object(),
                synchronous=bool(current_app.config.get("JOBS_SYNCHRONOUS")),
            )
    return ext["attendance.dispatcher"]
