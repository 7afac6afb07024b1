"""School life in the aggregate's stateful test (tests/api/test_aggregate_model.py): the
admins' side. Pupils who join with enrolment dates, whose dates change, who change group
or name, move to the other school or leave; marks and clearings; settings and closures.
Each goes through the HTTP API and into the model (tests/api/aggregate_model.py), and
is often followed by the last report again, which must show it at once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from tests.unit import oracle

from .aggregate_model import (
    EPOCH,
    GROUPS,
    HOURS,
    RATIOS,
    WALLS,
    ZONES,
    ModelMark,
    Pupil,
    SchoolModel,
    mark_refusal,
    wall,
)

DAYS = st.one_of(st.none(), st.integers(-12, 6))  # a date in days from today, or open


class SchoolLife:
    """The admins' rules of the machine (a mixin of SchoolMachine)."""

    client: Any
    pupils: dict[int, Pupil]
    schools: dict[int, SchoolModel]
    home: SchoolModel
    away: SchoolModel
    last: Any

    def today(self, school: SchoolModel | None = None) -> dt.date:
        raise NotImplementedError

    def check_last(self) -> None:
        raise NotImplementedError

    def init_life(self) -> None:
        self.marks: list[ModelMark] = []  # every entry, clearings included
        self.entries: dict[int, ModelMark] = {}  # the entries created, by id (to clear)

    def day(self, school: SchoolModel, back: int | None) -> dt.date | None:
        return None if back is None else self.today(school) + dt.timedelta(days=back)

    def where(self, name: str) -> SchoolModel:
        return self.home if name == "home" else self.away

    # -- pupils -------------------------------------------------------------------------

    def add_user(
        self, i: int, school: SchoolModel, group: str | None, span: tuple[int | None, int | None]
    ) -> None:
        """POST a pupil, enrolled from/until the dates `span` names (422 when inverted)."""
        first, last = (self.day(school, n) for n in span)
        body: dict[str, Any] = {"name": f"pupil {i}", "school_id": school.id, "group": group}
        if first is not None or last is not None:
            body |= {"enrolled_from": _iso(first), "enrolled_until": _iso(last)}
        resp = self.client.post("/api/users", json=body)
        if first is not None and last is not None and last < first:
            assert resp.status_code == 422 and "enrolled_until" in resp.json["errors"]
            return
        assert resp.status_code == 201, resp.json
        self.pupils[resp.json["data"]["id"]] = Pupil(
            body["name"], group, school.id, [(school.id, first, last)]
        )

    def active(self) -> list[int]:
        return sorted(u for u, p in self.pupils.items() if not p.archived)

    def update(self, user: int, body: dict[str, Any], method: str) -> Any:
        send = self.client.put if method == "put" else self.client.patch
        return send(f"/api/users/{user}", json=body)

    @rule(
        data=st.data(),
        action=st.sampled_from(["join", "archive", "move", "enrolment"]),
        method=st.sampled_from(["put", "patch"]),
        repeat=st.booleans(),
    )
    def pupil(self, data: st.DataObject, action: str, method: str, repeat: bool) -> None:
        """A pupil joins, or has their enrolment dates changed, moves or leaves; often
        followed by the last report again."""
        active = self.active()
        if action == "join" or not active:
            school = self.where(data.draw(st.sampled_from(["home", "away"]), label="school"))
            span = (data.draw(DAYS, label="from"), data.draw(DAYS, label="until"))
            self.add_user(len(self.pupils), school, data.draw(st.sampled_from(GROUPS)), span)
        else:
            user = data.draw(st.sampled_from(active), label="user")
            getattr(self, action)(data, user, method)
        if repeat:
            self.check_last()

    @precondition(lambda self: bool(self.active()))
    @rule(
        data=st.data(),
        action=st.sampled_from(["group", "rename"]),
        method=st.sampled_from(["put", "patch"]),
        repeat=st.booleans(),
    )
    def pupil_details(self, data: st.DataObject, action: str, method: str, repeat: bool) -> None:
        """A pupil changes group or name: no date changes, but a report narrowed to a
        group or listing its users does."""
        user = data.draw(st.sampled_from(self.active()), label="user")
        getattr(self, action)(data, user, method)
        if repeat:
            self.check_last()

    def archive(self, data: st.DataObject, user: int, method: str) -> None:
        """DELETE: their enrolments at their school end yesterday (presence.md 5)."""
        pupil = self.pupils[user]
        assert self.client.delete(f"/api/users/{user}").status_code == 204
        pupil.end_at(pupil.school, self.today(self.schools[pupil.school]))
        pupil.archived = True
        assert self.client.get(f"/api/users/{user}").status_code == 404

    def move(self, data: st.DataObject, user: int, method: str) -> None:
        """To the other school, from its today or a date given, until a date or open."""
        pupil = self.pupils[user]
        old = self.schools[pupil.school]
        new = self.away if old is self.home else self.home
        first = self.day(new, data.draw(st.one_of(st.none(), st.integers(-5, 3)), label="from"))
        last = self.day(new, data.draw(st.sampled_from([None, None, 4, 9]), label="until"))
        body: dict[str, Any] = {"school_id": new.id}
        if first is not None:
            body["enrolled_from"] = first.isoformat()
        if last is not None:
            body["enrolled_until"] = last.isoformat()
        resp = self.update(user, body, method)
        first = first if first is not None else self.today(new)
        if last is not None and last < first:
            assert resp.status_code == 422 and "enrolled_until" in resp.json["errors"]
            return
        assert resp.status_code == 200, resp.json
        pupil.end_at(old.id, self.today(old))
        pupil.spans.append((new.id, first, last))
        pupil.school = new.id
        assert resp.json["data"]["school_id"] == new.id
        assert resp.json["data"]["enrolments"] == [
            {"school_id": s, "from": _iso(a), "until": _iso(b)} for s, a, b in pupil.spans
        ]

    def enrolment(self, data: st.DataObject, user: int, method: str) -> None:
        """Change enrolled_from, enrolled_until or both: the latest enrolment's (422 when
        the span would end before it starts)."""
        pupil = self.pupils[user]
        school = self.schools[pupil.school]
        fields = data.draw(
            st.sampled_from(
                [["enrolled_from"], ["enrolled_until"], ["enrolled_from", "enrolled_until"]]
            )
        )
        body = {f: _iso(self.day(school, data.draw(DAYS, label=f))) for f in fields}
        resp = self.update(user, body, method)
        s, first, last = pupil.spans[-1]
        if "enrolled_from" in body:
            first = _date(body["enrolled_from"])
        if "enrolled_until" in body:
            last = _date(body["enrolled_until"])
        if first is not None and last is not None and last < first:
            assert resp.status_code == 422 and "enrolled_until" in resp.json["errors"]
            return
        assert resp.status_code == 200, resp.json
        pupil.spans[-1] = (s, first, last)

    def group(self, data: st.DataObject, user: int, method: str) -> None:
        """Regrouped: their whole past counts under the new group (api.md)."""
        group = data.draw(st.sampled_from(GROUPS), label="group")
        resp = self.update(user, {"group": group}, method)
        assert resp.status_code == 200, resp.json
        self.pupils[user].group = group

    def rename(self, data: st.DataObject, user: int, method: str) -> None:
        name = f"pupil {len(self.pupils)}-{data.draw(st.integers(0, 9), label='name')}"
        resp = self.update(user, {"name": name}, method)
        assert resp.status_code == 200, resp.json
        self.pupils[user].name = name

    # -- marks --------------------------------------------------------------------------

    def put_mark(
        self,
        school: SchoolModel,
        user: int | None,
        status: str,
        excused: bool,
        first: dt.date,
        last: dt.date | None,
    ) -> None:
        """POST a mark on one date (`last` None) or a range; refused as the model says."""
        body: dict[str, Any] = {"user_id": user, "status": status, "reason": "sick note"}
        if excused or status == "absent":
            body["excused"] = excused
        if last is None:
            body["date"] = first.isoformat()
        else:
            body |= {"from": first.isoformat(), "to": last.isoformat()}
        resp = self.client.post(f"/api/schools/{school.id}/marks", json={"mark": body})
        pupil = None if user is None else self.pupils.get(user)
        today = self.today(school)
        refused, days = mark_refusal(school, pupil, status, excused, (first, last), today)

        if refused is not None:
            assert resp.status_code == 422 and refused in resp.json["errors"], resp.json
            return
        assert resp.status_code == 201, resp.json
        assert [m["date"] for m in resp.json["data"]] == [d.isoformat() for d in days]
        for created in resp.json["data"]:
            entry = ModelMark(
                created["user_id"],
                dt.date.fromisoformat(created["date"]),
                status,
                excused,
                EPOCH,
                len(self.marks),
                school.id,
            )
            self.marks.append(entry)
            self.entries[created["id"]] = entry

    @rule(
        data=st.data(),
        where=st.sampled_from(["home", "home", "away"]),
        status=st.sampled_from(["present", "absent", "absent"]),
        excused=st.booleans(),
        back=st.integers(-12, 3),
        repeat=st.booleans(),
    )
    def mark(
        self, data: st.DataObject, where: str, status: str, excused: bool, back: int, repeat: bool
    ) -> None:
        """A mark on one date: a sick note, a failed badge reader, a forgotten check-out."""
        self.marking(data, self.where(where), status, excused, back, None, repeat)

    @rule(
        data=st.data(),
        where=st.sampled_from(["home", "home", "away"]),
        status=st.sampled_from(["present", "absent", "absent"]),
        excused=st.booleans(),
        back=st.integers(-12, 6),
        length=st.integers(0, 9),
        repeat=st.booleans(),
    )
    def planned(
        self,
        data: st.DataObject,
        where: str,
        status: str,
        excused: bool,
        back: int,
        length: int,
        repeat: bool,
    ) -> None:
        """Marks over a range: a planned absence (or, for past days, a present range)."""
        self.marking(data, self.where(where), status, excused, back, length, repeat)

    def marking(
        self,
        data: st.DataObject,
        school: SchoolModel,
        status: str,
        excused: bool,
        back: int,
        length: int | None,
        repeat: bool,
    ) -> None:
        """Mark a pupil of the school now or once (now and then, of the other school only:
        refused), then maybe ask for the last report again."""
        if status == "present" and data.draw(st.integers(0, 4), label="valid") > 0:
            excused = False  # mostly valid: an excused present mark is refused
        ever = sorted(u for u, p in self.pupils.items() if p.at(school.id))
        others = sorted(set(self.pupils) - set(ever))
        pool = ever if ever and (not others or data.draw(st.integers(0, 6)) > 0) else others
        user = data.draw(st.sampled_from(pool), label="user") if pool else None
        first = self.today(school) + dt.timedelta(days=back)
        last = None if length is None else first + dt.timedelta(days=length)
        self.put_mark(school, user, status, excused, first, last)
        if repeat:
            self.check_last()

    @precondition(lambda self: bool(self.entries))
    @rule(data=st.data(), repeat=st.booleans())
    def clear_mark(self, data: st.DataObject, repeat: bool) -> None:
        """DELETE a mark entry: its user and date have no mark from then on (clearing a
        cleared date, or through a superseded entry, is clearing once)."""
        ident = data.draw(st.sampled_from(sorted(self.entries)), label="mark")
        entry = self.entries[ident]
        resp = self.client.delete(f"/api/schools/{entry.school_id}/marks/{ident}")
        assert resp.status_code == 204
        same = [
            m
            for m in self.marks
            if (m.user_id, m.day, m.school_id) == (entry.user_id, entry.day, entry.school_id)
        ]
        if same[-1].status != "cleared":
            self.marks.append(
                ModelMark(
                    entry.user_id,
                    entry.day,
                    "cleared",
                    False,
                    EPOCH,
                    len(self.marks),
                    entry.school_id,
                )
            )
        if repeat:
            self.check_last()

    # -- settings and closures ----------------------------------------------------------

    @rule(
        data=st.data(),
        where=st.sampled_from(["home", "home", "away"]),
        which=st.sampled_from(
            [
                "timezone",
                "school_days",
                "min_daily_hours",
                "period_ratio",
                "day_end",
                "late_after",
                "chronic_ratio",
                "chronic_min_days",
                "closure",
            ]
        ),  # fmt: skip
        repeat=st.booleans(),
    )
    def setting(self, data: st.DataObject, where: str, which: str, repeat: bool) -> None:
        """One setting changed by a partial PUT or PATCH, or a closure added or removed,
        often followed by the last report again."""
        school = self.where(where)
        if which == "closure":
            self.toggle_closure(school, data.draw(st.integers(-3, 12), label="back"))
        else:
            value = data.draw(
                {
                    "timezone": st.sampled_from(ZONES),
                    "school_days": st.frozensets(st.integers(1, 7), min_size=1).map(sorted),
                    "min_daily_hours": st.sampled_from(HOURS),
                    "period_ratio": st.sampled_from(RATIOS),
                    "day_end": st.sampled_from(WALLS),
                    "late_after": st.sampled_from(WALLS),
                    "chronic_ratio": st.sampled_from(["0.01", "0.1", "0.25", "0.5", "1"]),
                    "chronic_min_days": st.sampled_from([1, 2, 3, 5, 10]),
                }[which],
                label="value",
            )
            method = data.draw(st.sampled_from(["put", "patch"]), label="method")
            send = self.client.put if method == "put" else self.client.patch
            resp = send(f"/api/schools/{school.id}", json={which: value})
            assert resp.status_code == 200, resp.json
            _apply(school, which, value)
        if repeat:
            self.check_last()

    def toggle_closure(self, school: SchoolModel, back: int) -> None:
        """Close or reopen a date: `back` days ago, or a school day of the last range."""
        day = self.today(school) - dt.timedelta(days=back)
        if self.last is not None and back % 2 and self.last[0] == school.id:
            first, last = self.last[1:3]
            school_days = [
                d for d in oracle.all_dates(first, last) if d.isoweekday() in school.school_days
            ]
            day = school_days[back % len(school_days)] if school_days else day
        if school.closures and back % 3 == 0:  # reopen one
            day = sorted(school.closures)[back % len(school.closures)]
        if day in school.closures:
            url = f"/api/schools/{school.id}/closures/{school.closures.pop(day)}"
            assert self.client.delete(url).status_code == 204
        else:
            url = f"/api/schools/{school.id}/closures"
            resp = self.client.post(url, json={"date": day.isoformat(), "name": "holiday"})
            assert resp.status_code == 201, resp.json
            school.closures[day] = resp.json["data"]["id"]


def _apply(school: SchoolModel, which: str, value: Any) -> None:
    """The model's side of a setting change."""
    if which == "timezone":
        school.tz = value
    elif which == "school_days":
        school.school_days = set(value)
    elif which == "min_daily_hours":
        school.min_hours = Decimal(value)
    elif which == "period_ratio":
        school.ratio = Decimal(value)
    elif which in ("day_end", "late_after"):
        setattr(school, which, wall(value))
    elif which == "chronic_ratio":
        school.chronic_ratio = Decimal(value)
    else:
        school.chronic_min_days = value


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)
