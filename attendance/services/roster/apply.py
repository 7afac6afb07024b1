"""Carrying out a chunk's plan: creations in bulk, changes through the users' service.

A creation does what `users.create_user` does for a row the planner has checked (the
school exists, the span is valid, the external_id is free): insert the user and one
enrolment, and make stale the cached figures the span touches (`enrolments.invalidate_change`),
only with one statement per table for the whole chunk and one invalidation per distinct span.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, insert, select

from ...extensions import db
from ...models import Enrolment, School, User
from .. import enrolments as spans
from .. import users
from .plan import SPAN_FIELDS, Action
from .report import CREATED

USER_FIELDS = ("name", "external_id", "group")


def apply(actions: Sequence[Action], now: dt.datetime) -> None:
    """Carry out the actions (flushes, never commits)."""
    creations = [a for a in actions if a.kind == CREATED]
    if creations:
        _create(creations, now)
    changes = [(a, a.user_id) for a in actions if a.kind != CREATED and a.user_id is not None]
    if not changes:
        return
    query = select(User).where(User.id.in_([user_id for _, user_id in changes]))
    loaded = {user.id: user for user in db.session.scalars(query)}
    plain = False
    for action, user_id in changes:
        user = loaded[user_id]
        if "school_id" in action.data or any(f in action.data for f in SPAN_FIELDS):
            users.update_user(user, action.data, now)
        else:  # a new name or group: what update_user sets, without a flush per row
            for key, value in action.data.items():
                setattr(user, key, value)
            plain = True
    if plain:
        db.session.flush()


def _create(actions: Sequence[Action], now: dt.datetime) -> None:
    # Core inserts on the tables, as executemany without RETURNING: psycopg pipelines the
    # statements and converts their text once. (The ORM's bulk insert emitted one
    # statement per row, waiting for each, with its Python-side defaults: 30 times
    # slower; the defaults are given instead. RETURNING made SQLAlchemy write one
    # statement of 1,000 rows' VALUES, whose 7,000 placeholders psycopg parsed anew each
    # time: half the import.) The new pupils' ids are then read back by their
    # (school, external_id), unique.
    users_table = cast(Table, User.__table__)
    enrolments_table = cast(Table, Enrolment.__table__)
    rows = [
        {
            "school_id": a.school.id,
            **{f: a.data.get(f) for f in USER_FIELDS},
            "created_at": now,
            "updated_at": now,
        }
        for a in actions
    ]
    db.session.execute(insert(users_table), rows)
    ids = _ids([(a.school.id, a.data["external_id"]) for a in actions])
    db.session.execute(
        insert(enrolments_table),
        [
            {
                "user_id": ids[(a.school.id, a.data["external_id"])],
                "school_id": a.school.id,
                "from": a.data.get("enrolled_from"),
                "until": a.data.get("enrolled_until"),
                "created_at": now,
            }
            for a in actions
        ],
    )
    touched: dict[tuple[int, spans.Span], School] = {}
    for a in actions:
        touched[(a.school.id, (a.data.get("enrolled_from"), a.data.get("enrolled_until")))] = (
            a.school
        )
    for (_, span), school in sorted(touched.items(), key=lambda item: repr(item[0])):
        spans.invalidate_change(school, None, span, now)


def _ids(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The ids of the users with these (school_id, external_id): one query a school."""
    by_school: dict[int, list[str]] = {}
    for school_id, external_id in keys:
        by_school.setdefault(school_id, []).append(external_id)
    ids: dict[tuple[int, str], int] = {}
    for school_id, external_ids in by_school.items():
        query = select(User.external_id, User.id).where(
            User.school_id == school_id, User.external_id.in_(external_ids)
        )
        ids.update(
            {(school_id, str(external_id)): id_ for external_id, id_ in db.session.execute(query)}
        )
    return ids
