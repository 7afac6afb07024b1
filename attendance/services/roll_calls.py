"""Roll calls: start one with who is in the building now, account for pupils, close it.

Who is "in the building" is presence.md's "checked in now" (sections 2 and 7, `day_end`
included), decided by `presence.day_table` and `presence.day_facts` as the reports decide
it, among the pupils enrolled at the school today. The reconciliation (what a roll call
shows) is in `roll_call_reading`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from .. import clock, presence
from ..extensions import db
from ..inputs import MAX_FUTURE
from ..models import Attendance, Enrolment, School
from ..roll_call_models import RollCall, RollCallEntry, RollCallExpected
from . import Conflict, ServiceError
from .reports import rules_for

CLOSED = "this roll call is closed: it takes no more ticks"


def in_building(school: School, now: dt.datetime) -> frozenset[int]:
    """The pupils checked in now (presence.md 2 and 7) among those enrolled today."""
    today = presence.local_today(now, school.timezone)
    rules = rules_for(school)
    table = presence.day_table(_event_rows(school, today), today, rules, now)
    facts = presence.day_facts(
        today, presence.DayTotals.of_table(table), enrolled_on(school.id, today), rules, now
    )
    return facts.checked_in_now & facts.enrolled


def _event_rows(school: School, day: dt.date) -> Sequence[presence.Row]:
    """The school's events of the local date, as pairing takes them."""
    start, end = presence.day_bounds(day, school.timezone)
    return db.session.execute(
        select(Attendance.user_id, Attendance.timestamp, Attendance.id, Attendance.type)
        .where(
            Attendance.school_id == school.id,
            Attendance.timestamp >= start,
            Attendance.timestamp < end,
        )
        .order_by(Attendance.user_id, Attendance.timestamp, Attendance.id)
    ).all()


def enrolled_on(school_id: int, day: dt.date) -> set[int]:
    """The users enrolled at the school on the date (presence.md 5)."""
    return set(
        db.session.scalars(
            select(Enrolment.user_id).where(
                Enrolment.school_id == school_id,
                or_(Enrolment.from_.is_(None), Enrolment.from_ <= day),
                or_(Enrolment.until.is_(None), Enrolment.until >= day),
            )
        )
    )


def open_roll_call(school_id: int) -> RollCall | None:
    """The school's open roll call, if it has one."""
    return db.session.scalar(
        select(RollCall).where(RollCall.school_id == school_id, RollCall.closed_at.is_(None))
    )


def start(school: School, created_by: str, now: dt.datetime | None = None) -> tuple[RollCall, bool]:
    """Start a roll call (True), or find the one open already (False): one per school."""
    found = open_roll_call(school.id)
    if found is not None:
        return found, False
    now = now or clock.now()
    expected = in_building(school, now)
    roll_call = RollCall(school_id=school.id, started_at=now, started_by=created_by)
    try:
        with db.session.begin_nested():
            db.session.add(roll_call)
            db.session.flush()
    except IntegrityError:
        # Another start committed between the look and the insert: answer with that one.
        found = open_roll_call(school.id)
        if found is None:
            raise
        return found, False
    db.session.add_all(RollCallExpected(roll_call_id=roll_call.id, user_id=u) for u in expected)
    db.session.flush()
    return roll_call, True


def close(roll_call: RollCall, closed_by: str, now: dt.datetime | None = None) -> RollCall:
    """Close the roll call (closing a closed one changes nothing): it stays as a record."""
    locked = lock(roll_call.id)
    if locked.closed_at is None:
        locked.closed_at = now or clock.now()
        locked.closed_by = closed_by
        db.session.flush()
    return locked


def lock(roll_call_id: int) -> RollCall:
    """The roll call, its row locked until the commit (ticks and closing take turns)."""
    return db.session.get_one(RollCall, roll_call_id, with_for_update=True, populate_existing=True)


@dataclass(frozen=True)
class Ticks:
    """What recording ticks did: the entries in the order asked, and whether any is new."""

    entries: list[RollCallEntry]
    created: bool


def record(
    roll_call: RollCall,
    ticks: Sequence[dict[str, Any]],
    created_by: str,
    field: str = "user_id",
    now: dt.datetime | None = None,
) -> Ticks:
    """Record ticks (and undoings); a `client_event_id` seen before answers its first entry.

    The whole request is refused when a tick names a pupil of no enrolment at the school
    (422), is stamped in the future, or is new while the roll call is closed (409)."""
    received = now or clock.now()
    locked = lock(roll_call.id)
    keys = [t["client_event_id"] for t in ticks]
    known = _entries(locked.id, keys)
    new = [t for t in _first_of_each(ticks) if t["client_event_id"] not in known]
    if new and locked.closed_at is not None:
        raise Conflict(CLOSED)
    _check(locked.school_id, new, received, field)
    for tick in new:
        entry = RollCallEntry(
            roll_call_id=locked.id,
            user_id=tick["user_id"],
            client_event_id=tick["client_event_id"],
            at=tick.get("at") or received,
            accounted=not tick.get("undo", False),
            created_by=created_by,
            received_at=received,
        )
        try:
            with db.session.begin_nested():
                db.session.add(entry)
                db.session.flush()
        except IntegrityError:
            # The same key from another request, committed meanwhile (SQLite takes no lock).
            known.update(_entries(locked.id, [entry.client_event_id]))
            continue
        known[entry.client_event_id] = entry
    return Ticks([known[k] for k in keys], created=bool(new))


def _first_of_each(ticks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ticks without repeats of a key within the request (the first one counts)."""
    seen: dict[str, dict[str, Any]] = {}
    for tick in ticks:
        seen.setdefault(tick["client_event_id"], tick)
    return list(seen.values())


def _entries(roll_call_id: int, keys: Sequence[str]) -> dict[str, RollCallEntry]:
    """The roll call's entries of these client event ids, by id."""
    if not keys:
        return {}
    rows = db.session.scalars(
        select(RollCallEntry).where(
            RollCallEntry.roll_call_id == roll_call_id,
            RollCallEntry.client_event_id.in_(set(keys)),
        )
    )
    return {e.client_event_id: e for e in rows}


def _check(
    school_id: int, ticks: Sequence[dict[str, Any]], received: dt.datetime, field: str
) -> None:
    """Refuse pupils of no enrolment at the school, and ticks stamped in the future."""
    wanted = {t["user_id"] for t in ticks}
    found = (
        set(
            db.session.scalars(
                select(Enrolment.user_id).where(
                    Enrolment.school_id == school_id, Enrolment.user_id.in_(wanted)
                )
            )
        )
        if wanted
        else set()
    )
    for tick in ticks:
        if tick["user_id"] not in found:
            user_id = tick["user_id"]
            raise ServiceError(field, f"user {user_id} does not exist in school {school_id}")
        at = tick.get("at")
        if at is not None and at > received + MAX_FUTURE:
            raise ServiceError(
                "at" if field == "user_id" else field,
                "must not be more than 5 minutes after the time it is received",
            )
