"""Deciding each row's outcome: validated by the users' schema, matched by `external_id`.

Nothing here writes. A row is checked with the same schema as `POST /api/users`
(`schemas.users.UserInSchema`: the name rules of `inputs`, dates within the bounds,
`external_id` and `group` lengths) and the same span rule as the enrolment service
(`enrolments.check_span`), then compared with the pupil of the same `external_id` in its
school.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from sqlalchemy import select

from ...extensions import db
from ...models import Enrolment, School, User
from ...schemas.loader import BodyLoader, Memo
from ...schemas.users import UserInSchema
from .. import ServiceError
from .. import enrolments as spans
from .parse import EXTERNAL_ID, SCHOOL, Row
from .report import CREATED, INVALID, UNCHANGED, UPDATED, RowResult

FIELDS = ("name", "group", "enrolled_from", "enrolled_until")
SPAN_FIELDS = ("enrolled_from", "enrolled_until")
NO_EXTERNAL_ID = "must not be empty: it names the pupil"
TWICE = "appears twice in the file (line {line})"
ARCHIVED_PUPIL = "belongs to an archived pupil of this school (a roster does not restore pupils)"
NO_SCHOOL = "no school you may act for has this id or name"
SAME_NAME = "more than one school has this name: give its id"

# A row's cells as `UserInSchema(partial=True).load` takes them (a row may leave columns
# out), at a fraction of its cost: the values that repeat from row to row (the school,
# groups, dates) deserialized once per file.
_loader = BodyLoader(
    UserInSchema(partial=True),
    repetitive=frozenset({"school_id", "group", "enrolled_from", "enrolled_until"}),
)
REQUIRED_NAME = str(UserInSchema().fields["name"].error_messages["required"])


@dataclass
class Action:
    """What applying a row does: create a pupil, or change one (maybe moving them)."""

    kind: str  # CREATED or UPDATED
    school: School
    data: dict[str, Any]
    user_id: int | None = None


@dataclass(slots=True)
class Stored:
    """A stored pupil as the planner compares it: plain values, not an ORM object.

    Loading 50,000 unchanged pupils as ORM objects (with their enrolments) cost more than
    the rest of the import; only the pupils that change are loaded as such (apply).
    """

    id: int
    school_id: int
    name: str
    group: str | None
    archived: bool
    enrolments: list[Any]  # rows with school_id, from_ and until, oldest first


@dataclass
class Planner:
    """Plans rows chunk by chunk, remembering what earlier rows claimed."""

    anchor: School
    columns: list[str]
    may_act_for: Callable[[int], bool]
    now: dt.datetime
    # What earlier rows did, kept for the whole file (100 to 200 bytes a row, the only
    # memory an import keeps per row): every external_id named, and, by school, the
    # external_ids claimed, each with the line that claimed it.
    seen_external_ids: set[str] = field(default_factory=set)
    _claimed: dict[int, dict[str, int]] = field(default_factory=dict)
    _schools: dict[str, School | str] = field(default_factory=dict)
    _today: dict[int, dt.date] = field(default_factory=dict)
    _memo: Memo = field(default_factory=dict)  # the loader's, for the whole file

    def seen(self, external_id: str) -> bool:
        """Whether a row of the file so far (valid or not) names this external_id."""
        return external_id in self.seen_external_ids

    def plan(self, rows: list[Row]) -> list[tuple[RowResult, Action | None]]:
        """Each row's outcome and, for a creation or change, what to do."""
        checked = [self._check(row) for row in rows]
        found = self._existing(
            {(c[1].id, c[2]["external_id"]) for c in checked if c[1] is not None}
            | {(self.anchor.id, c[2]["external_id"]) for c in checked if c[1] is not None}
        )
        return [
            self._decide(row, school, data, errors, found) for row, school, data, errors in checked
        ]

    # -- one row on its own --------------------------------------------------------------

    def _check(self, row: Row) -> tuple[Row, School | None, dict[str, Any], dict[str, list[str]]]:
        """The row's school and fields as the users' schema loads them, or its errors."""
        raw = row.cells.get(EXTERNAL_ID, "").strip()
        if raw:
            self.seen_external_ids.add(raw)
        if row.problem is not None:
            return row, None, {"external_id": raw or None}, {"row": [row.problem]}
        errors: dict[str, list[str]] = {}
        school = self._school(row.cells.get(SCHOOL, ""), errors)
        body: dict[str, Any] = {"school_id": school.id if school else self.anchor.id}
        for column in (EXTERNAL_ID, *FIELDS):
            if column in self.columns:
                cell = row.cells[column]
                body[column] = cell if cell.strip() else None
        try:
            data = _loader.load(body, self._memo)
        except ma.ValidationError as error:
            messages = error.normalized_messages()
            errors.update({str(k): [str(m) for m in v] for k, v in messages.items()})
            data = {}
        if not raw and EXTERNAL_ID not in errors:
            errors[EXTERNAL_ID] = [NO_EXTERNAL_ID]
        data.setdefault(EXTERNAL_ID, raw or None)
        return row, (None if errors else school), data, errors

    def _school(self, cell: str, errors: dict[str, list[str]]) -> School | None:
        """The row's school: the anchor, or the one its `school` cell names (id or exact name)."""
        text = cell.strip()
        if not text:
            return self.anchor
        if text not in self._schools:
            self._schools[text] = self._find_school(text)
        found = self._schools[text]
        if isinstance(found, str):
            errors[SCHOOL] = [found]
            return None
        return found

    def _find_school(self, text: str) -> School | str:
        if text.isascii() and text.isdigit() and len(text) < 10:
            school = db.session.get(School, int(text))
            matches = [school] if school is not None else []
        else:
            matches = list(db.session.scalars(select(School).where(School.name == text)))
        # A school the caller may not act for is answered as one that does not exist.
        matches = [s for s in matches if self.may_act_for(s.id)]
        if len(matches) > 1:
            return SAME_NAME
        return matches[0] if matches else NO_SCHOOL

    # -- against what is stored ------------------------------------------------------------

    def _existing(self, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Stored]:
        """The users (archived ones too) with these (school, external_id): 2 queries a school."""
        by_school: dict[int, list[str]] = {}
        for school_id, external_id in keys:
            by_school.setdefault(school_id, []).append(external_id)
        found: dict[tuple[int, str], Stored] = {}
        for school_id, external_ids in by_school.items():
            query = select(User.id, User.external_id, User.name, User.group, User.deleted_at).where(
                User.school_id == school_id, User.external_id.in_(external_ids)
            )
            stored: dict[int, Stored] = {}
            for row in db.session.execute(query):
                pupil = Stored(
                    row.id, school_id, row.name, row.group, row.deleted_at is not None, []
                )
                stored[row.id] = found[(school_id, str(row.external_id))] = pupil
            spans_query = (
                select(
                    Enrolment.user_id,
                    Enrolment.school_id,
                    Enrolment.from_.label("from_"),
                    Enrolment.until,
                )
                .where(Enrolment.user_id.in_(list(stored)))
                .order_by(Enrolment.id)
            )
            for span in db.session.execute(spans_query) if stored else []:
                stored[span.user_id].enrolments.append(span)
        return found

    def _decide(
        self,
        row: Row,
        school: School | None,
        data: dict[str, Any],
        errors: dict[str, list[str]],
        found: dict[tuple[int, str], Stored],
    ) -> tuple[RowResult, Action | None]:
        external_id = data.get(EXTERNAL_ID)
        if errors or school is None or external_id is None:
            return RowResult(row.line, external_id, INVALID, errors=errors), None
        user = found.get((school.id, external_id))
        if user is None and school.id != self.anchor.id:
            user = found.get((self.anchor.id, external_id))  # moving to `school`
        # A stored pupil is known by its (school, external_id): a row moving them claims
        # that key as well as the one of the school they move to.
        keys = {school.id} if user is None else {school.id, user.school_id}
        earlier = [self._claimed.get(key, {}).get(external_id) for key in keys]
        first = min((line for line in earlier if line is not None), default=None)
        if first is not None:
            twice = {EXTERNAL_ID: [TWICE.format(line=first)]}
            return RowResult(row.line, external_id, INVALID, errors=twice), None
        for key in keys:
            self._claimed.setdefault(key, {})[external_id] = row.line
        if user is None:
            return self._create(row, school, data)
        if user.archived:
            archived = {EXTERNAL_ID: [ARCHIVED_PUPIL]}
            return RowResult(row.line, external_id, INVALID, errors=archived), None
        return self._change(row, school, user, data)

    def _create(
        self, row: Row, school: School, data: dict[str, Any]
    ) -> tuple[RowResult, Action | None]:
        external_id = data[EXTERNAL_ID]
        if "name" not in data:
            errors = {"name": [REQUIRED_NAME]}
            return RowResult(row.line, external_id, INVALID, errors=errors), None
        span = data.get("enrolled_from"), data.get("enrolled_until")
        failed = _span_error(*span)
        if failed:
            return RowResult(row.line, external_id, INVALID, errors=failed), None
        changes = {f: [None, _wire(data.get(f))] for f in FIELDS if data.get(f) is not None}
        result = RowResult(row.line, external_id, CREATED, changes=changes)
        return result, Action(CREATED, school, data)

    def _change(
        self, row: Row, school: School, user: Stored, data: dict[str, Any]
    ) -> tuple[RowResult, Action | None]:
        external_id = data[EXTERNAL_ID]
        old = self._current(user)
        moving = school.id != user.school_id
        new = {f: data[f] for f in FIELDS if f in data}
        if moving and "enrolled_from" not in new:
            new["enrolled_from"] = self._school_today(school)  # the move rule's default
        merged = {**old, **new}
        if moving:  # a move opens a new span: what is not given is open
            merged["enrolled_until"] = new.get("enrolled_until")
        failed = _span_error(merged["enrolled_from"], merged["enrolled_until"])
        if failed:
            return RowResult(row.line, external_id, INVALID, errors=failed), None
        changes = {f: [_wire(old[f]), _wire(merged[f])] for f in FIELDS if old[f] != merged[f]}
        if moving:
            changes = {SCHOOL: [user.school_id, school.id], **changes}
        if not changes:
            return RowResult(row.line, external_id, UNCHANGED), None
        update = {f: merged[f] for f in FIELDS if f in new or f in changes}
        if moving:
            update.update({f: merged[f] for f in SPAN_FIELDS}, school_id=school.id)
        result = RowResult(row.line, external_id, UPDATED, changes=changes)
        return result, Action(UPDATED, school, update, user.id)

    def _school_today(self, school: School) -> dt.date:
        if school.id not in self._today:
            self._today[school.id] = spans.school_today(school, self.now)
        return self._today[school.id]

    def _current(self, user: Stored) -> dict[str, Any]:
        """The fields as the API shows them (the current or latest enrolment's span)."""
        today = self._today.get(user.school_id)
        if today is None:
            school = db.session.get(School, user.school_id)
            today = self._school_today(school) if school is not None else dt.date.max
        enrolment = spans.current(user.enrolments, user.school_id, today)
        return {
            "name": user.name,
            "group": user.group,
            "enrolled_from": None if enrolment is None else enrolment.from_,
            "enrolled_until": None if enrolment is None else enrolment.until,
        }


def _span_error(first: dt.date | None, last: dt.date | None) -> dict[str, list[str]]:
    """The enrolment service's span rule, as a row's errors."""
    try:
        spans.check_span(first, last)
    except ServiceError as error:
        return {error.field: [error.message]}
    return {}


def _wire(value: Any) -> Any:
    """A field's value as the report shows it (dates as ISO text)."""
    return value.isoformat() if isinstance(value, dt.date) else value
