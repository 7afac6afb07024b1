"""Enrolments: the spans of school-local dates a user is counted at a school (presence.md 5).

Cached figures are invalidated for exactly the dates a change touches, and only where a
cached figure can exist: a day is cached once it is over (daycache), so a change that
touches today or later dates needs no bump, and one that touches past dates bumps their
day versions. Where that would be unbounded (a span opened or closed "since always") or
longer than a report can be, the school's generation is bumped instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import exists, select

from .. import clock
from ..extensions import db
from ..models import Enrolment, School, User
from ..presence import local_date
from . import ServiceError
from .daycache import OPEN_MARGIN, invalidate_days
from .schools import bump_generation

Span = tuple[dt.date | None, dt.date | None]
ONE_DAY = dt.timedelta(days=1)
# More touched past days than this bump the generation: one statement instead of thousands
# of rows, and a report never spans more (inputs' range limit).
MAX_BUMPED_DAYS = 366
UNTIL_BEFORE_FROM = "must not be before enrolled_from"


def school_today(school: School, now: dt.datetime | None = None) -> dt.date:
    """The school's local date of `now` (default: the current instant)."""
    return local_date(now or clock.now(), school.timezone)


def covers(span: Span, day: dt.date) -> bool:
    """The span covers the date (an inverted span covers none)."""
    first, last = span
    return (first is None or first <= day) and (last is None or day <= last)


def check_span(first: dt.date | None, last: dt.date | None) -> None:
    """Refuse a span whose end is before its start (422 on enrolled_until)."""
    if first is not None and last is not None and last < first:
        raise ServiceError("enrolled_until", UNTIL_BEFORE_FROM)


def of_user(user_id: int, school_id: int | None = None) -> list[Enrolment]:
    """The user's enrolments (at one school, if given), oldest first."""
    query = select(Enrolment).where(Enrolment.user_id == user_id).order_by(Enrolment.id)
    if school_id is not None:
        query = query.where(Enrolment.school_id == school_id)
    return list(db.session.scalars(query))


def has_enrolment(user_id: int, school_id: int) -> bool:
    """True when the user has an enrolment at the school, past, present or future."""
    query = exists().where(Enrolment.user_id == user_id, Enrolment.school_id == school_id)
    return bool(db.session.scalar(select(query)))


def current(enrolments: Sequence[Enrolment], school_id: int, today: dt.date) -> Enrolment | None:
    """The enrolment at the school that covers today, else the one opened last there."""
    here = [e for e in enrolments if e.school_id == school_id]
    for enrolment in reversed(here):
        if covers((enrolment.from_, enrolment.until), today):
            return enrolment
    return here[-1] if here else None


def open_enrolment(
    user: User,
    school: School,
    first: dt.date | None,
    last: dt.date | None,
    now: dt.datetime | None = None,
) -> None:
    """Enrol the user at the school from `first` until `last` (None: open)."""
    check_span(first, last)
    db.session.add(Enrolment(user_id=user.id, school_id=school.id, from_=first, until=last))
    db.session.flush()
    invalidate_change(school, None, (first, last), now)


def edit_latest(
    user: User, school: School, changes: dict[str, dt.date | None], now: dt.datetime | None = None
) -> None:
    """Change `enrolled_from` / `enrolled_until` of the user's latest enrolment (opened last)."""
    latest = db.session.scalar(
        select(Enrolment).where(Enrolment.user_id == user.id).order_by(Enrolment.id.desc()).limit(1)
    )
    if latest is None:  # a user from before enrolments existed, without one
        open_enrolment(
            user, school, changes.get("enrolled_from"), changes.get("enrolled_until"), now
        )
        return
    old: Span = (latest.from_, latest.until)
    new: Span = (
        changes.get("enrolled_from", latest.from_),
        changes.get("enrolled_until", latest.until),
    )
    check_span(*new)
    if new == old:
        return
    latest.from_, latest.until = new
    db.session.flush()
    invalidate_change(db.session.get(School, latest.school_id) or school, old, new, now)


def end_at(user: User, school: School, now: dt.datetime | None = None) -> None:
    """End the user's enrolments at the school: each covering today or later ends yesterday.

    One that starts today or later then covers no date (presence.md 5: archive and move).
    """
    today = school_today(school, now)
    for enrolment in of_user(user.id, school.id):
        old: Span = (enrolment.from_, enrolment.until)
        first, last = old
        if (first is not None and last is not None and last < first) or (
            last is not None and last < today
        ):
            continue
        enrolment.until = today - ONE_DAY
        invalidate_change(school, old, (first, enrolment.until), now)
    db.session.flush()


def changed_dates(old: Span | None, new: Span | None) -> list[Span]:
    """The dates covered by one span and not the other, as spans (None bounds: unbounded).

    Coverage only changes at a span's start or the day after its end; between two such
    breakpoints it is constant, so one date of each segment decides the whole segment.
    """
    spans = [s for s in (old, new) if s is not None]
    points = sorted(
        {s[0] for s in spans if s[0] is not None}
        | {s[1] + ONE_DAY for s in spans if s[1] is not None}
    )

    def covered(span: Span | None, day: dt.date) -> bool:
        return span is not None and covers(span, day)

    segments: list[Span] = []
    if not points:  # both open at both ends, or missing: all dates or none
        return [(None, None)] if (old is None) != (new is None) else []
    bounds: list[Span] = [(None, points[0] - ONE_DAY)]
    bounds += [(a, b - ONE_DAY) for a, b in zip(points, points[1:], strict=False)]
    bounds.append((points[-1], None))
    for first, last in bounds:
        probe = first if first is not None else points[0] - ONE_DAY
        if covered(old, probe) != covered(new, probe):
            if segments and segments[-1][1] is not None and first == segments[-1][1] + ONE_DAY:
                segments[-1] = (segments[-1][0], last)
            else:
                segments.append((first, last))
    return segments


def invalidate_change(
    school: School, old: Span | None, new: Span | None, now: dt.datetime | None = None
) -> None:
    """Make stale the cached figures of the dates whose enrolment changed (see the module)."""
    # Days before this one may be cached; it and later ones are not (daycache.still_open).
    first_open = local_date((now or clock.now()) + OPEN_MARGIN, school.timezone)
    days: list[dt.date] = []
    for first, last in changed_dates(old, new):
        end = first_open - ONE_DAY if last is None else min(last, first_open - ONE_DAY)
        if first is not None and first > end:
            continue
        if first is None or (end - first).days >= MAX_BUMPED_DAYS:
            bump_generation(school.id)
            return
        days.extend(first + dt.timedelta(days=n) for n in range((end - first).days + 1))
    if len(days) > MAX_BUMPED_DAYS:
        bump_generation(school.id)
        return
    invalidate_days((school.id, day) for day in days)
