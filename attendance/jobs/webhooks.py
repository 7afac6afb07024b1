"""The webhook jobs: deliver one delivery, close one school's day, and the periodic steps.

Each takes ids, calls attendance/services/webhooks, commits, then queues what comes next.
The rows are the record: a job lost with Redis is found again by the tick, and a fever
whose deliveries were never recorded by the fever sweep; every worker's reaper thread
runs both (and, without Redis, the embedded thread of `flask serve`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from flask import current_app

from .. import clock
from ..extensions import db
from ..services.webhooks import Settings, dayclose, delivery, events, settings_from
from ..webhook_models import CLOSE_DONE
from .periodic import Every
from .queue import Call, InlineDispatcher, QueueUnavailable, dispatcher

log = logging.getLogger(__name__)
# Seconds past its due time before the tick takes a delivery its own scheduled job should
# have sent (with Redis; without it the tick is what sends them).
LATE_GRACE = 60.0
# Seconds between two fever sweeps of a process: each reads a day of readings at the
# subscribed schools, more than each tick should.
FEVER_SWEEP_EVERY = 60.0


def _settings() -> Settings:
    return settings_from(current_app.config)


def delivery_call(delivery_id: str, attempt: int = 0, delay: float = 0.0) -> Call:
    """The job that makes one try of a delivery."""
    return Call(
        deliver,
        (delivery_id,),
        job_id=f"webhook-{delivery_id}-{attempt}",
        timeout=int(_settings().timeout * 2 + 30),
        delay=delay,
    )


def send_soon(delivery_ids: Sequence[str]) -> None:
    """Queue the first try of new deliveries (after their commit); the tick catches up a
    delivery that could not be queued, so a queue outage loses nothing."""
    if not delivery_ids:
        return
    try:
        dispatcher().enqueue(*(delivery_call(i) for i in delivery_ids))
    except QueueUnavailable:
        log.warning("webhook deliveries not queued; the tick will send them")


def deliver(delivery_id: str) -> str:
    """One try of a delivery: claim it, POST it, record the answer, schedule the next try."""
    settings = _settings()
    try:
        claimed = delivery.claim(delivery_id, settings)
        db.session.commit()
        if claimed is None:
            return "skipped"
        answer = delivery.attempt(claimed, settings)
        delay = delivery.record(delivery_id, answer, settings)
        db.session.commit()
        if answer.ok:
            return "delivered"
        log.info(
            "webhook delivery %s failed (%s)%s",
            delivery_id,
            answer.status or answer.error,
            "" if delay is None else f"; next try in {delay:.0f} s",
        )
        if delay is not None:
            attempts = _attempts(delivery_id)
            db.session.commit()
            send_later(delivery_id, attempts, delay)
        return "failed"
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


def _attempts(delivery_id: str) -> int:
    from ..webhook_models import WebhookDelivery

    return db.session.get_one(WebhookDelivery, delivery_id).attempts


def send_later(delivery_id: str, attempts: int, delay: float) -> None:
    """Schedule the next try (RQ's scheduler); without Redis the tick runs it when due."""
    try:
        dispatcher().enqueue(delivery_call(delivery_id, attempts, delay))
    except QueueUnavailable:
        log.warning("webhook retry not scheduled; the tick will send it")


def close_day(close_id: int) -> str:
    """Close one school's date: ask for its reports, and once finished record its events."""
    try:
        close = dayclose.locked(close_id)
        if close is None or close.status == CLOSE_DONE:
            db.session.commit()
            return "done already"
        school = close.school
        if not dayclose.is_counted_date(school, close.date):
            dayclose.finish(close, 0)  # no school that day: nothing to tell
            db.session.commit()
            return "no school day"
        asked = dayclose.request_reports(close, school)
        reports = dayclose.reports_of(close)
        if reports is None:
            dayclose.wait_again(close)
            db.session.commit()
            for requested in asked:
                requested.after_commit()  # a failed queue fails the report: asked again later
            db.session.commit()
            return "waiting"
        found = dayclose.decide(close, school, reports)
        ids = events.record(found)
        dayclose.finish(close, len(found))
        db.session.commit()
        log.info("closed %s of school %s: %d events", close.date, school.id, len(found))
        send_soon(ids)
        return "closed"
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


def tick() -> None:
    """The periodic step: claim the dates that closed, hand pending closes and late
    deliveries to jobs. Safe in any number of workers at once (rows are claimed)."""
    settings = _settings()
    try:
        now = clock.now()
        dayclose.claim_due(now, settings)
        db.session.commit()
        closes = dayclose.runnable(now)
        db.session.commit()
        queue = dispatcher()
        inline = isinstance(queue, InlineDispatcher)
        late = delivery.due(0.0 if inline else LATE_GRACE)
        db.session.commit()
        stamp = int(now.timestamp() * 1000)
        calls = [Call(close_day, (i,), job_id=f"day-close-{i}-{stamp}") for i in closes]
        calls += [
            Call(
                deliver,
                (i,),
                job_id=f"webhook-{i}-sweep-{stamp}",
                timeout=int(settings.timeout * 2 + 30),
            )
            for i in late
        ]
        if calls:
            queue.enqueue(*calls)
    finally:
        db.session.remove()


def catch_up_fevers() -> None:
    """The fever sweep: record and send the fever deliveries a check-in left unrecorded
    (its process died, or the database failed, between its commit and theirs). Safe in
    any number of workers at once, and beside the check-in path (one delivery per key)."""
    try:
        ids = events.missed_fevers(clock.now())
        db.session.commit()
        if ids:
            log.warning("fever sweep: %d delivery(ies) the check-ins did not record", len(ids))
        send_soon(ids)
    finally:
        db.session.remove()


def periodic_steps() -> list[Callable[[], None]]:
    """The webhook steps of a periodic loop (a worker's reaper, or the embedded thread)."""
    return [tick, Every(FEVER_SWEEP_EVERY, catch_up_fevers)]


def fevers_recorded(readings: Sequence[events.Reading], school_ids: Sequence[int]) -> None:
    """After a check-in's commit: record and send the fever events of these new readings
    (id, timestamp).

    Called only with readings that are fevers (one event) or a batch's new ones; costs one
    small query when no subscription wants fevers of these schools.
    """
    if not readings or not events.wants_fevers(school_ids):
        db.session.commit()
        return
    ids = events.record(events.fever_events(readings))
    db.session.commit()
    send_soon(ids)
