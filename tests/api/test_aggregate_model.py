"""The aggregate endpoint against the oracle, from outside: a stateful property test.

Hypothesis drives the HTTP API as a school's devices and admins would: events on time,
late, out of order and up to five minutes early, deletions, settings, closures and
users that come and go, and a clock that moves on (across DST changes too). After every
step it may ask for a report and compares the whole document with the naive oracle
(tests/unit/oracle.py) fed with what the API was told, at the `generated_at` the answer
names. So the database round trip, the day cache and its invalidation, the chunk
storage and the endpoint are checked together, not only the rules.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

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

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kathmandu",
]
# Clocks in the past, where the tests' fake clock and the real one cannot meet.
EARLIEST = dt.datetime(2024, 1, 8, tzinfo=dt.UTC)
LATEST = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
# Session lengths: seconds after (or before) the school's min_daily_hours.
AROUND = [-7200, -1, 0, 1, 1800, 3 * 3600]
# Local times (minutes after midnight) that sessions start at.
STARTS = [0, 5, 60 * 7, 60 * 8 + 30, 60 * 14, 60 * 20]
HOURS = ["4", "0.5", "2.25", "3", "6"]
RATIOS = ["0.8", "0", "0.5", "0.667", "0.75", "0.999"]
WEEKS = dt.timedelta(weeks=2)  # room before the clock for the days the school starts with


def iso(instant: dt.datetime, offset: dt.timedelta) -> str:
    """The instant as a client might send it: under some UTC offset, often with micros."""
    return instant.astimezone(dt.timezone(offset)).isoformat()


class Clock:
    def __init__(self) -> None:
        self.now = EARLIEST

    def __call__(self) -> dt.datetime:
        return self.now


class SchoolMachine(RuleBasedStateMachine):
    """One school, seen through the API, and its model: what the API was told."""

    client: Any
    clock: Clock

    @initialize(seed=st.integers(0, 2**32 - 1))
    def school(self, seed: int) -> None:
        """A school and a week and a bit of ordinary days, drawn from a seeded generator:
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
        days = [1, 2, 3, 4, 5] if rnd.random() < 0.6 else rnd.sample(range(1, 8), rnd.randint(1, 7))
        body = {
            "name": "Model School",
            "timezone": tz,
            "school_days": sorted(days),
            "min_daily_hours": rnd.choice(HOURS),
            "period_ratio": rnd.choice(RATIOS),
        }
        resp = self.client.post("/api/schools", json=body)
        assert resp.status_code == 201, resp.json
        self.school_id = resp.json["data"]["id"]
        self.tz = tz
        self.school_days = set(days)
        self.min_hours = Decimal(body["min_daily_hours"])
        self.ratio = Decimal(body["period_ratio"])
        self.closures: dict[dt.date, int] = {}
        self.users: list[int] = []  # active
        # every user's enrolment spans (presence.md 5): archiving ends them yesterday
        self.spans: dict[int, list[tuple[dt.date | None, dt.date | None]]] = {}
        self.events: dict[int, presence.Event] = {}
        self.keys: set[str] = set()  # idempotency keys sent
        self.last: tuple[dt.date, dt.date, str] | None = None
        for i in range(rnd.randint(1, 6)):
            self.add_user(i)
        for user in self.users:
            keen = rnd.random()  # how often this pupil comes
            for back in range(12):
                day = self.today() - dt.timedelta(days=back)
                if rnd.random() < keen:
                    closed = rnd.random() < 0.9
                    self.session(user, day, rnd.choice(STARTS), rnd.choice(AROUND), closed)
                if rnd.random() < 0.15:  # a stray event: an orphan, a double check-in
                    kind = rnd.choice(["checkin", "checkout"])
                    self.post(user, kind, self.local(day, rnd.randint(0, 1439)), dt.timedelta(0))

    # -- helpers ------------------------------------------------------------------------

    def today(self) -> dt.date:
        return presence.local_today(self.clock.now, self.tz)

    def local(self, day: dt.date, minutes: int) -> dt.datetime:
        """The instant `minutes` after local midnight of `day` (real time, across changes)."""
        midnight = dt.datetime.combine(day, dt.time(), ZoneInfo(self.tz)).astimezone(dt.UTC)
        return midnight + dt.timedelta(minutes=minutes)

    def post(self, user: int, kind: str, when: dt.datetime | None, offset: dt.timedelta) -> None:
        body: dict[str, Any] = {
            "user_id": user,
            "school_id": self.school_id,
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

    # -- what the clients do ------------------------------------------------------------

    @rule(
        action=st.sampled_from(["add_user", "delete_user", "change_setting", "toggle_closure"]),
        data=st.data(),
        repeat=st.booleans(),
    )
    def admin(self, action: str, data: st.DataObject, repeat: bool) -> None:
        """An admin's change (one rule, so reports stay frequent enough to reuse the cache),
        often followed by the last request again, which must not be answered as before."""
        method = getattr(self, action)
        params = {
            "add_user": {"i": st.integers(0, 99)},
            "delete_user": {"data": st.just(data)},
            "change_setting": {
                "tz": st.sampled_from(ZONES),
                "days": st.frozensets(st.integers(1, 7), min_size=1),
                "hours": st.sampled_from(HOURS),
                "ratio": st.sampled_from(RATIOS),
                "which": st.sampled_from(
                    ["timezone", "school_days", "min_daily_hours", "period_ratio"]
                ),
            },
            "toggle_closure": {"back": st.integers(-3, 12)},
        }[action]
        method(**{name: data.draw(strategy, label=name) for name, strategy in params.items()})
        if repeat and self.last is not None:
            self.check(*self.last)

    def add_user(self, i: int) -> None:
        resp = self.client.post(
            "/api/users", json={"name": f"pupil {i}", "school_id": self.school_id}
        )
        assert resp.status_code == 201, resp.json
        self.users.append(resp.json["data"]["id"])
        self.spans[resp.json["data"]["id"]] = [(None, None)]

    def delete_user(self, data: st.DataObject) -> None:
        if len(self.users) < 2:
            return
        user = data.draw(st.sampled_from(self.users), label="user")
        assert self.client.delete(f"/api/users/{user}").status_code == 204
        self.users.remove(user)
        self.spans[user] = [(None, self.today() - dt.timedelta(days=1))]

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
        """Any event: now, seconds or days late, or a little early (too early is refused)."""
        user = data.draw(st.sampled_from(self.users), label="user")
        back = dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        self.post(user, kind, self.clock.now - back, offset)

    @rule(data=st.data())
    def event_without_timestamp(self, data: st.DataObject) -> None:
        user = data.draw(st.sampled_from(self.users), label="user")
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
        user = data.draw(st.sampled_from(self.users), label="user")
        self.session(user, self.today() - dt.timedelta(days=back), start, length, closed)

    def session(self, user: int, day: dt.date, start: int, length: int, closed: bool) -> None:
        """Check in `start` minutes after the local midnight of `day`, out `length` seconds
        after the school's threshold (before it when negative)."""
        opened = self.local(day, start)
        self.post(user, "checkin", opened, dt.timedelta(hours=2))
        if closed:
            duration = max(self.threshold() + dt.timedelta(seconds=length), dt.timedelta(0))
            self.post(user, "checkout", opened + duration, dt.timedelta(0))

    def threshold(self) -> dt.timedelta:
        return dt.timedelta(seconds=int(self.min_hours * 3600))

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
        first, last, _ = self.last
        days = [d for d in oracle.all_dates(first, last) if d < self.today()]
        if not days:
            return
        day = data.draw(st.sampled_from(days), label="day")
        on_day = sorted(
            i for i, e in self.events.items() if presence.local_date(e.timestamp, self.tz) == day
        )
        user = data.draw(st.sampled_from(self.users), label="user")
        if how == "deleted" and on_day:
            ident = data.draw(st.sampled_from(on_day), label="event")
            assert self.client.delete(f"/api/attendances/{ident}").status_code == 204
            del self.events[ident]
        elif how == "in a batch":
            opened = self.local(day, start)
            closed = opened + max(self.threshold() + dt.timedelta(seconds=length), dt.timedelta(0))
            self.sync(user, [("checkin", opened), ("checkout", closed)])
        else:
            self.session(user, day, start, length, closed=True)
        self.check(first, last, presence.DAY)

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
        user = data.draw(st.sampled_from(self.users), label="user")
        back = [(kind, dt.timedelta(seconds=s, microseconds=us)) for kind, s, us in items]
        self.sync(user, [(kind, self.clock.now - ago) for kind, ago in back], resend)

    def sync(self, user: int, items: list[tuple[str, dt.datetime]], resend: bool = False) -> None:
        """POST the events as one keyed batch (twice when `resend`: all duplicates then)."""
        batch = [
            {
                "user_id": user,
                "school_id": self.school_id,
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

    def change_setting(
        self, tz: str, days: frozenset[int], hours: str, ratio: str, which: str
    ) -> None:
        value: Any = {
            "timezone": tz,
            "school_days": sorted(days),
            "min_daily_hours": hours,
            "period_ratio": ratio,
        }[which]
        resp = self.client.patch(f"/api/schools/{self.school_id}", json={which: value})
        assert resp.status_code == 200, resp.json
        if which == "timezone":
            self.tz = tz
        elif which == "school_days":
            self.school_days = set(days)
        elif which == "min_daily_hours":
            self.min_hours = Decimal(hours)
        else:
            self.ratio = Decimal(ratio)

    def toggle_closure(self, back: int) -> None:
        """Close or reopen a date: `back` days ago, or a school day of the last range."""
        day = self.today() - dt.timedelta(days=back)
        if self.last is not None and back % 2:
            first, last, _ = self.last
            school_days = [
                d for d in oracle.all_dates(first, last) if d.isoweekday() in self.school_days
            ]
            day = school_days[back % len(school_days)] if school_days else day
        if self.closures and back % 3 == 0:  # reopen one
            day = sorted(self.closures)[back % len(self.closures)]
        if day in self.closures:
            url = f"/api/schools/{self.school_id}/closures/{self.closures.pop(day)}"
            assert self.client.delete(url).status_code == 204
        else:
            url = f"/api/schools/{self.school_id}/closures"
            resp = self.client.post(url, json={"date": day.isoformat(), "name": "holiday"})
            assert resp.status_code == 201, resp.json
            self.closures[day] = resp.json["data"]["id"]

    @rule(
        first=st.integers(-14, 2),
        length=st.integers(0, 12),
        granularity=st.sampled_from(presence.GRANULARITIES),
    )
    def report(self, first: int, length: int, granularity: str) -> None:
        """Ask for figures and compare every one of them with the oracle."""
        start = self.today() + dt.timedelta(days=first)
        self.check(start, start + dt.timedelta(days=length), granularity)

    @rule()
    def today_by_default(self) -> None:
        """No range: today's figures, by rule 3."""
        self.check(None, None, presence.DAY)

    @precondition(lambda self: self.last is not None)
    @rule(shift=st.integers(-2, 2), granularity=st.sampled_from(presence.GRANULARITIES))
    def regroup(self, shift: int, granularity: str) -> None:
        """The last range again, moved or grouped otherwise: its past days come from the cache."""
        assert self.last is not None
        start, end, _ = self.last
        self.check(start + dt.timedelta(days=shift), end + dt.timedelta(days=shift), granularity)

    def check(self, start: dt.date | None, end: dt.date | None, granularity: str) -> None:
        query = {"granularity": granularity}
        if start is not None and end is not None:
            query.update({"from": start.isoformat(), "to": end.isoformat()})
        end_before_today = end is not None and end < self.today()
        url = f"/api/attendances/aggregate/school/{self.school_id}"
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
            start = end = presence.local_today(now, self.tz)
        else:
            self.last = (start, end, granularity)
        want, _, _ = oracle.oracle_school_report(
            list(self.events.values()),
            list(self.spans),
            start,
            end,
            granularity,
            self.tz,
            self.school_days,
            set(self.closures),
            self.min_hours,
            self.ratio,
            now,
            self.spans,
            [],
            None,
            None,
            Decimal("0.1"),
            10,
        )
        got = {k: doc[k] for k in want}
        assert got == want


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
                max_examples=50,
                stateful_step_count=35,
                deadline=None,
                # Shrinking replays whole HTTP sessions and can take minutes; the unshrunk
                # steps of a failure are printed as they are.
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    # The day cache was really put to the test: reports took past dates from it.
    assert sum(hits) > 0
