"""What a roll call shows: its expected list, who is accounted for, missing, unexpected, and
who checked out since it began (api.md "Roll calls")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import Attendance, User
from ..presence import CHECKOUT
from ..roll_call_models import RollCall, RollCallEntry, RollCallExpected

OPEN, CLOSED = "open", "closed"


@dataclass(frozen=True)
class Pupil:
    """A pupil as a roll call lists them."""

    user_id: int
    name: str
    group: str | None
    external_id: str | None


@dataclass(frozen=True)
class Reconciled:
    """A roll call and its four lists (each ordered by group, then name)."""

    roll_call: RollCall
    expected: list[Pupil]
    accounted: list[Pupil]
    missing: list[Pupil]
    unexpected: list[Pupil]
    left: list[Pupil]
    entries: list[RollCallEntry] = field(default_factory=list)

    @property
    def status(self) -> str:
        return OPEN if self.roll_call.closed_at is None else CLOSED

    @property
    def counts(self) -> dict[str, int]:
        return {
            "expected": len(self.expected),
            "accounted": len(self.accounted),
            "missing": len(self.missing),
            "unexpected": len(self.unexpected),
            "left": len(self.left),
        }


def expected_ids(roll_call_id: int) -> set[int]:
    """The pupils checked in when the roll call started."""
    return set(
        db.session.scalars(
            select(RollCallExpected.user_id).where(RollCallExpected.roll_call_id == roll_call_id)
        )
    )


def history(roll_call_id: int) -> list[RollCallEntry]:
    """Every entry of the roll call, oldest first (by `at`, then id)."""
    return list(
        db.session.scalars(
            select(RollCallEntry)
            .where(RollCallEntry.roll_call_id == roll_call_id)
            .order_by(RollCallEntry.at, RollCallEntry.id)
        )
    )


def accounted_ids(entries: Iterable[RollCallEntry]) -> set[int]:
    """The pupils whose deciding entry (the latest `at`, then the highest id) is a tick."""
    latest: dict[int, RollCallEntry] = {}
    for entry in entries:
        seen = latest.get(entry.user_id)
        if seen is None or (entry.at, entry.id) > (seen.at, seen.id):
            latest[entry.user_id] = entry
    return {user_id for user_id, entry in latest.items() if entry.accounted}


def left_ids(roll_call: RollCall, now: dt.datetime) -> set[int]:
    """The pupils whose latest event at the school since the start (until the close, or
    now) is a check-out: they left after the roll call began."""
    until = roll_call.closed_at or now
    rows = db.session.execute(
        select(Attendance.user_id, Attendance.type)
        .where(
            Attendance.school_id == roll_call.school_id,
            Attendance.timestamp >= roll_call.started_at,
            Attendance.timestamp <= until,
        )
        .order_by(Attendance.timestamp, Attendance.id)
    )
    last: dict[int, str] = {}
    for user_id, kind in rows:
        last[user_id] = kind
    return {user_id for user_id, kind in last.items() if kind == CHECKOUT}


def pupils(user_ids: Iterable[int]) -> dict[int, Pupil]:
    """The pupils of these ids, by id."""
    ids = set(user_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(User.id, User.name, User.group, User.external_id).where(User.id.in_(ids))
    )
    return {r.id: Pupil(r.id, r.name, r.group, r.external_id) for r in rows}


def ordered(found: dict[int, Pupil], ids: Iterable[int]) -> list[Pupil]:
    """The pupils of ids, by group (none last), then name, then id."""
    chosen = [found[i] for i in ids if i in found]
    return sorted(
        chosen, key=lambda p: (p.group is None, p.group or "", p.name.casefold(), p.user_id)
    )


def reconcile(
    roll_call: RollCall, now: dt.datetime | None = None, with_entries: bool = False
) -> Reconciled:
    """The roll call with its lists, as of now (a closed one: as of its close)."""
    entries = history(roll_call.id)
    expected = expected_ids(roll_call.id)
    accounted = accounted_ids(entries)
    left = left_ids(roll_call, now or clock.now())
    found = pupils(expected | accounted | left)
    return Reconciled(
        roll_call=roll_call,
        expected=ordered(found, expected),
        accounted=ordered(found, accounted),
        missing=ordered(found, expected - accounted),
        unexpected=ordered(found, accounted - expected),
        left=ordered(found, left),
        entries=entries if with_entries else [],
    )
