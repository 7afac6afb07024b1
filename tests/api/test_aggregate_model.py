"""The aggregate endpoint against the oracle, from outside: a stateful property test.

Hypothesis drives the HTTP API as a district's devices and admins would, at two schools:
events on time, late, out of order and up to five minutes early, deletions, settings
(timezone, school days, thresholds, day_end, late_after, the chronic settings), closures,
pupils who join with enrolment dates, change them, change group, move to the other
school and leave, admins' marks (present, absent, excused, single dates and planned
ranges) and clearings, and a clock that moves on (across DST changes too). After a step
it may ask for a report, at either school, by day, week or month, narrowed to a group
or listing its users, often twice, and compares the whole document with the naive
oracle (tests/unit/oracle.py) fed with what the API was told (tests/api/aggregate_model.py),
at the `generated_at` the answer names. So the database round trip, the day cache and
its invalidation, the shared finished reports, the chunk storage and the endpoint are
checked together, not only the rules.

FUZZ_MAX_EXAMPLES (default 20) and FUZZ_STEPS (default 35) make it run longer.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from attendance import clock as attendance_clock
from attendance import presence
from attendance.signals import report_planned
from tests.unit import oracle
from tests.unit.test_presence_properties import transitions

from .aggregate_model import (
    AROUND,
    EARLIEST,
    FIGURES,
    GROUPS,
    HOURS,
    LATEST,
    RATIOS,
    STARTS,
    WALLS,
    ZONES,
    Pupil,
    SchoolModel,
    expected,
    today_at,
    wall,
)
from .aggregate_model_life import SchoolLife

WEEKS = dt.timedelta(weeks=2)  # room before the clock for the days the school starts with


def iso(instant: dt.datetime, offset: dt.timedelta) -> str:
    """The instant as a client might send it: under some UTC offset, often with micros."""
    return instant.astimezone(dt.timezone(offset)).isoformat()


class Clock:
    def __init__(self) -> None:
        self.now = EARLIEST

    def __call__(self) -> dt.datetime:
        return self.now


class SchoolMachine(SchoolLife, RuleBasedStateMachine):
    """Two schools of a district, seen through the API, and their model."""

    client: Any
    clock: Clock

    @initialize(seed=st.integers(0, 2**32 - 1))
    def schools(self, seed: int) -> None:
        """Two schools and a week and a bit of ordinary days, drawn from a seeded generator:
        every report then has figures to get right and past days for the cache to keep.
        (Hypothesis's own draws start small: one pupil at the first instant, no events.)"""
        rnd = random.Random(seed)
        tz = rnd.choice(ZONES)
        changes = [t for t in transitions(tz) if EARLIEST + WEEKS < t < LATEST]
        if changes and rnd.random() < 0.5:
            self.clock.now = rnd.choice(changes) + dt.timedelta(seconds=rnd.randint(-3, 3) * 86400)
        else:
            self.clock.now = EARLIEST + WEEKS + (LATEST - EARLIEST - WEEKS) * rnd.random()
        self.clock.now += dt.timedelta(
            seconds=rnd.randint(0, 86400), microseconds=rnd.randint(0, 999_999)
        )
        self.pupils: dict[int, Pupil] = {}
        self.events: dict[int, presence.Event] = {}
        self.event_school: dict[int, int] = {}
        self.keys: set[str] = set()  # idempotency keys sent
        self.init_life()
        self.home = self.new_school(rnd, tz)
        self.away = self.new_school(rnd, rnd.choice(ZONES))
        self.schools = {self.home.id: self.home, self.away.id: self.away}
        self.last: tuple[int, dt.date, dt.date, str] | None = None
        for i in range(rnd.randint(1, 6)):
            span = self.random_span(rnd) if i else (None, None)  # one pupil at least
            self.add_user(i, self.home, rnd.choice(GROUPS), span)
        for i in range(rnd.randint(0, 2)):
            self.add_user(10 + i, self.away, rnd.choice(GROUPS), self.random_span(rnd))
        for user, pupil in self.pupils.items():
            keen = rnd.random()  # how often this pupil comes
            school = self.schools[pupil.school]
            for back in range(12):
                day = self.today(school) - dt.timedelta(days=back)
                if rnd.random() < keen:
                    closed = rnd.random() < 0.9
                    self.session(user, day, rnd.choice(STARTS), rnd.choice(AROUND), closed)
                if rnd.random() < 0.15:  # a stray event: an orphan, a double check-in
                    kind = rnd.choice(["checkin", "checkout"])
                    when = self.local(school, day, rnd.randint(0, 1439))
                    self.post(user, kind, when, dt.timedelta(0))
                if rnd.random() < 0.04:  # a sick note or a planned absence
                    self.put_mark(school, user, "absent", rnd.random() < 0.7, day, None)

    def new_school(self, rnd: random.Random, tz: str) -> SchoolModel:
        days = [1, 2, 3, 4, 5] if rnd.random() < 0.6 else rnd.sample(range(1, 8), rnd.randint(1, 7))
        life = rnd.random() < 0.5
        body = {
            "name": "Model School",
            "timezone": tz,
            "school_days": sorted(days),
            "min_daily_hours": rnd.choice(HOURS),
            "period_ratio": rnd.choice(RATIOS),
            "day_end": rnd.choice(WALLS) if life else None,
            "late_after": rnd.choice(WALLS) if life else None,
            "chronic_ratio": rnd.choice(["0.1", "0.25", "0.5", "1"]),
            "chronic_min_days": rnd.choice([1, 2, 3, 10]),
        }
        resp = self.client.post("/api/schools", json=body)
        assert resp.status_code == 201, resp.json
        return SchoolModel(
            id=resp.json["data"]["id"],
            tz=tz,
            school_days=set(days),
            min_hours=Decimal(body["min_daily_hours"]),
            ratio=Decimal(body["period_ratio"]),
            day_end=wall(body["day_end"]),
            late_after=wall(body["late_after"]),
            chronic_ratio=Decimal(body["chronic_ratio"]),
            chronic_min_days=body["chronic_min_days"],
        )

    def random_span(self, rnd: random.Random) -> tuple[int | None, int | None]:
        """Enrolment dates of a new pupil, in days from today (None: open)."""
        if rnd.random() < 0.6:
            return None, None
        first = rnd.choice([None, -10, -6, -3, 0, 2])
        last = rnd.choice([None, None, -4, -1, 0, 3])
        return first, last

    # -- helpers ------------------------------------------------------------------------

    def today(self, school: SchoolModel | None = None) -> dt.date:
        return today_at(self.clock.now, (school or self.home).tz)

    def local(self, school: SchoolModel, day: dt.date, minutes: int) -> dt.datetime:
        """The instant `minutes` after local midnight of `day` (real time, across changes)."""
        midnight = dt.datetime.combine(day, dt.time(), ZoneInfo(school.tz)).astimezone(dt.UTC)
        return midnight + dt.timedelta(minutes=minutes)

    def school_of(self, user: int) -> SchoolModel:
        return self.schools[self.pupils[user].school]

    def post(
        self,
        user: int,
        kind: str,
        when: dt.datetime | None,
        offset: dt.timedelta,
        school: SchoolModel | None = None,
    ) -> None:
        """POST one event at the user's school (or `school`, where they were once)."""
        school = school or self.school_of(user)
        body: dict[str, Any] = {
            "user_id": user,
            "school_id": school.id,
            "type": kind,
            "temperature": 36.6,
        }
        if when is not None:
            body["timestamp"] = iso(when, offset)
        resp = self.client.post("/api/attendances", json=body)
        too_early = when is not None and when > self.clock.now + dt.timedelta(minutes=5)
        if too_early:
            assert resp.status_code == 422 and "timestamp" in resp.json["errors"], resp.json
            return
        assert resp.status_code == 201, resp.json
        data = resp.json["data"]
        stored = dt.datetime.fromisoformat(data["timestamp"])
        assert stored == (when if when is not None else self.clock.now)
        self.events[data["id"]] = presence.Event(data["id"], user, kind, stored)
        self.event_school[data["id"]] = school.id

    # -- what the clients do ------------------------------------------------------------

    @rule(
        data=st.data(),
        kind=st.sampled_from(["checkin", "checkout"]),
        days=st.integers(0, 8),
        seconds=st.integers(-330, 86400),
        micros=st.integers(0, 999_999),
        offset=st.sampled_from(
            [dt.timedelta(0), dt.timedelta(hours=-11), dt.timedelta(hours=5, minutes=45)]
        ),
    )
    def event(
        self,
        data: st.DataObject,
        kind: str,
        days: int,
        seconds: int,
        micros: int,
        offset: dt.timedelta,
    ) -> None:
        """Any event: now, seconds or days late, or a little early (too early is refused).
        Archived pupils' devices still sync: stored, counted only where they were enrolled."""
        user = data.draw(st.sampled_from(sorted(self.pupils)), label="user")
        back = dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        self.post(user, kind, self.clock.now - back, offset)

    @rule(data=st.data())
    def event_without_timestamp(self, data: st.DataObject) -> None:
        user = data.draw(st.sampled_from(sorted(self.pupils)), label="user")
        self.post(user, data.draw(st.sampled_from(["checkin", "checkout"])), None, dt.timedelta(0))

    @rule(
        data=st.data(),
        back=st.integers(0, 8),
        start=st.sampled_from(STARTS),
        length=st.sampled_from(AROUND),
        closed=st.booleans(),
    )
    def a_session(
        self, data: st.DataObject, back: int, start: int, length: int, closed: bool
    ) -> None:
        """A check-in and (mostly) its check-out, a length around the school's threshold."""
        user = data.draw(st.sampled_from(sorted(self.pupils)), label="user")
        day = self.today(self.school_of(user)) - dt.timedelta(days=back)
        self.session(user, day, start, length, closed)

    def session(
        self,
        user: int,
        day: dt.date,
        start: int,
        length: int,
        closed: bool,
        school: SchoolModel | None = None,
    ) -> None:
        """Check in `start` minutes after the local midnight of `day`, out `length` seconds
        after the school's threshold (before it when negative)."""
        school = school or self.school_of(user)
        opened = self.local(school, day, start)
        self.post(user, "checkin", opened, dt.timedelta(hours=2), school)
        if closed:
            duration = max(self.threshold(school) + dt.timedelta(seconds=length), dt.timedelta(0))
            self.post(user, "checkout", opened + duration, dt.timedelta(0), school)

    def threshold(self, school: SchoolModel) -> dt.timedelta:
        return dt.timedelta(seconds=int(school.min_hours * 3600))

    @precondition(lambda self: self.last is not None)
    @rule(
        data=st.data(),
        start=st.sampled_from(STARTS),
        length=st.sampled_from(AROUND),
        how=st.sampled_from(["one by one", "in a batch", "deleted"]),
    )
    def late_sync(self, data: st.DataObject, start: int, length: int, how: str) -> None:
        """A device syncs a session on a past day of the last report, one event at a time
        or in a batch (or an admin deletes an event of it), and the range is asked for
        again by day, where every date shows: that day must not come from the cache."""
        assert self.last is not None
        school_id, first, last, *_ = self.last
        school = self.schools[school_id]
        days = [d for d in oracle.all_dates(first, last) if d < self.today(school)]
        ever_here = sorted(u for u, p in self.pupils.items() if p.at(school_id))
        if not days or not ever_here:
            return
        day = data.draw(st.sampled_from(days), label="day")
        on_day = sorted(
            i
            for i, e in self.events.items()
            if self.event_school[i] == school_id and today_at(e.timestamp, school.tz) == day
        )
        user = data.draw(st.sampled_from(ever_here), label="user")
        if how == "deleted" and on_day:
            ident = data.draw(st.sampled_from(on_day), label="event")
            assert self.client.delete(f"/api/attendances/{ident}").status_code == 204
            del self.events[ident]
        elif how == "in a batch":
            opened = self.local(school, day, start)
            duration = self.threshold(school) + dt.timedelta(seconds=length)
            closed = opened + max(duration, dt.timedelta(0))
            # a session into today that has not ended yet syncs its check-in only
            items = [("checkin", opened), ("checkout", closed)][: 1 + (closed <= self.clock.now)]
            self.sync(user, items, school=school)
        else:
            self.session(user, day, start, length, closed=True, school=school)
        self.check(school_id, first, last, presence.DAY, *self.last[4:])

    @rule(
        data=st.data(),
        items=st.lists(
            st.tuples(
                st.sampled_from(["checkin", "checkout"]),
                st.integers(0, 8 * 86400),
                st.integers(0, 999_999),
            ),
            min_size=1,
            max_size=6,
        ),
        resend=st.booleans(),
    )
    def bulk_sync(
        self, data: st.DataObject, items: list[tuple[str, int, int]], resend: bool
    ) -> None:
        """An offline device sends its backlog in one batch; maybe twice."""
        user = data.draw(st.sampled_from(sorted(self.pupils)), label="user")
        back = [(kind, dt.timedelta(seconds=s, microseconds=us)) for kind, s, us in items]
        self.sync(user, [(kind, self.clock.now - ago) for kind, ago in back], resend)

    def sync(
        self,
        user: int,
        items: list[tuple[str, dt.datetime]],
        resend: bool = False,
        school: SchoolModel | None = None,
    ) -> None:
        """POST the events as one keyed batch (twice when `resend`: all duplicates then)."""
        school = school or self.school_of(user)
        batch = [
            {
                "user_id": user,
                "school_id": school.id,
                "type": kind,
                "temperature": 36.6,
                "timestamp": iso(when, dt.timedelta(0)),
                "client_event_id": f"sync-{len(self.keys) + i}",
            }
            for i, (kind, when) in enumerate(items)
        ]
        self.keys.update(item["client_event_id"] for item in batch)
        for again in [False, True][: 1 + resend]:
            resp = self.client.post("/api/attendances/bulk", json={"attendances": batch})
            assert resp.status_code == 200, resp.json
            for sent, result in zip(batch, resp.json["data"]["results"], strict=True):
                assert result["status"] == ("duplicate" if again else "created"), result
                stored = dt.datetime.fromisoformat(sent["timestamp"])
                self.events[result["id"]] = presence.Event(result["id"], user, sent["type"], stored)
                self.event_school[result["id"]] = school.id

    @precondition(lambda self: bool(self.events))
    @rule(data=st.data())
    def delete_event(self, data: st.DataObject) -> None:
        ident = data.draw(st.sampled_from(sorted(self.events)), label="event")
        assert self.client.delete(f"/api/attendances/{ident}").status_code == 204
        del self.events[ident]

    @rule(
        seconds=st.one_of(st.integers(0, 120), st.integers(0, 6 * 3600), st.integers(0, 3 * 86400)),
        micros=st.integers(0, 999_999),
    )
    def tick(self, seconds: int, micros: int) -> None:
        self.clock.now += dt.timedelta(seconds=seconds, microseconds=micros)

    # -- reports ------------------------------------------------------------------------

    @rule(
        first=st.integers(-14, 2),
        length=st.integers(0, 12),
        granularity=st.sampled_from(presence.GRANULARITIES),
        where=st.sampled_from(["home", "home", "away"]),
        users=st.booleans(),
        group=st.sampled_from([None, None, "5A", "5B"]),
        twice=st.booleans(),
    )
    def report(
        self,
        first: int,
        length: int,
        granularity: str,
        where: str,
        users: bool,
        group: str | None,
        twice: bool,
    ) -> None:
        """Ask for figures and compare every one of them with the oracle (twice: the
        second answer is the first report's, or its dates come from the cache)."""
        school = self.home if where == "home" else self.away
        start = self.today(school) + dt.timedelta(days=first)
        for _ in range(1 + twice):
            self.check(
                school.id, start, start + dt.timedelta(days=length), granularity, users, group
            )

    @rule()
    def today_by_default(self) -> None:
        """No range: today's figures, by rule 3."""
        self.check(self.home.id, None, None, presence.DAY)

    @precondition(lambda self: self.last is not None)
    @rule(shift=st.integers(-2, 2), granularity=st.sampled_from(presence.GRANULARITIES))
    def regroup(self, shift: int, granularity: str) -> None:
        """The last range again, moved or grouped otherwise: its past days come from the cache."""
        assert self.last is not None
        school, start, end, _, users, group = self.last
        shifted = (start + dt.timedelta(days=shift), end + dt.timedelta(days=shift))
        self.check(school, *shifted, granularity, users, group)

    def check_last(self) -> None:
        """The last report asked for again, if any: after a change it must show it."""
        if self.last is not None:
            self.check(*self.last)

    def check(
        self,
        school_id: int,
        start: dt.date | None,
        end: dt.date | None,
        granularity: str,
        users: bool = False,
        group: str | None = None,
    ) -> None:
        school = self.schools[school_id]
        query: dict[str, Any] = {"granularity": granularity}
        if start is not None and end is not None:
            query.update({"from": start.isoformat(), "to": end.isoformat()})
        if users:
            query["users"] = "true"
        if group is not None:
            query["group"] = group
        end_before_today = end is not None and end < self.today(school)
        url = f"/api/attendances/aggregate/school/{school_id}"
        resp = self.client.get(url, query_string=query)
        assert resp.status_code == 200, resp.json
        doc = resp.json["data"]
        assert doc["status"] == "finished"
        now = dt.datetime.fromisoformat(doc["generated_at"])
        # A past range whose inputs have not changed is answered by the report that
        # computed it, as of its own now; anything else is computed as of the request.
        fresh = dt.timedelta(0) <= now - self.clock.now < dt.timedelta(seconds=1)
        assert fresh or end_before_today
        if start is None or end is None:  # both default to today
            start = end = today_at(now, school.tz)
        else:
            self.last = (school_id, start, end, granularity, users, group)
        events = [e for i, e in self.events.items() if self.event_school[i] == school_id]
        want, listed = expected(
            school, self.pupils, events, self.marks, (start, end, granularity), now, group
        )
        assert {k: doc[k] for k in FIGURES} == want
        if users:
            assert doc["users"] == listed
        else:
            assert "users" not in doc


# Minutes on a busy machine (each step is HTTP requests on the database): more than the
# suite's default timeout, which is for tests that hang.
@pytest.mark.timeout(1200)
def test_the_api_agrees_with_the_oracle(client, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(attendance_clock, "now", clock)

    class Machine(SchoolMachine):
        pass

    Machine.client = client
    Machine.clock = clock
    hits: list[int] = []

    def planned(_: Any, hits_: list[int] = hits, **counts: int) -> None:
        hits_.append(counts["hits"])

    with report_planned.connected_to(planned):
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "20")),
                stateful_step_count=int(os.environ.get("FUZZ_STEPS", "35")),
                deadline=None,
                # Shrinking replays whole HTTP sessions and can take minutes; the unshrunk
                # steps of a failure are printed as they are.
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    # The day cache was really put to the test: reports took past dates from it.
    assert sum(hits) > 0
