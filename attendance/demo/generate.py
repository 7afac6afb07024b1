"""The demo's generator: believable schools, pupils and their events (pure: no database, no Flask).

Every random draw comes from a ``random.Random`` seeded with a string naming what it
decides (the seed, the school, the user, the day), so a user's day never changes
when the date range, the number of users or the ``now`` cut-off changes. The
randomness is for believable demo data only; nothing here is security-relevant.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from calendar import monthrange
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from random import Random
from zoneinfo import ZoneInfo

from ..presence import ABSENT, CHECKIN, CHECKOUT, PRESENT, local_today

__all__ = [
    "DemoSpec",
    "GeneratedEvent",
    "GeneratedMark",
    "PupilPlan",
    "SchoolPlan",
    "avatar_png",
    "count_estimate",
    "generate_school_events",
    "generate_school_marks",
    "pupil_plans",
    "quick_spec",
    "school_plans",
    "user_names",
]


@dataclass(frozen=True, slots=True)
class SchoolPlan:
    """What the generator needs to know about one school."""

    name: str
    timezone: str = "UTC"
    school_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})  # ISO weekdays
    closures: frozenset[date] = frozenset()
    day_end: time | None = None  # open sessions close here (presence.md)
    late_after: time | None = None  # a first check-in after this is a late day


@dataclass(frozen=True, slots=True)
class PupilPlan:
    """One pupil's register entry: pupil number, class and enrolment span (None: open)."""

    key: int
    external_id: str
    group: str
    enrolled_from: date | None = None
    enrolled_until: date | None = None

    def enrolled(self, day: date) -> bool:
        """The pupil is on the register on this date."""
        first, last = self.enrolled_from, self.enrolled_until
        return (first is None or first <= day) and (last is None or day <= last)


@dataclass(frozen=True, slots=True)
class GeneratedMark:
    """An admin's mark on one date (first == last) or a planned range of dates."""

    user_key: int
    first: date
    last: date
    status: str  # PRESENT | ABSENT
    excused: bool
    reason: str


@dataclass(frozen=True, slots=True)
class GeneratedEvent:
    """One generated check-in or check-out of one user."""

    user_key: int  # index of the user within the school, 0..M-1
    type: str  # CHECKIN | CHECKOUT
    timestamp: datetime  # aware, UTC
    temperature: Decimal  # °C, one decimal
    client_event_id: str  # deterministic, unique per school


# Behaviour knobs: probabilities are per present pupil-day unless said otherwise.
CHRONIC_SHARE = 0.05  # share of pupils who are chronically absent
CHRONIC_ABSENCE = (0.20, 0.40)  # their absence tendency
USUAL_ABSENCE = (0.03, 0.05)  # everybody else's
LATE_RATE = 0.05
LUNCH_RATE = 0.15
FORGET_CHECKOUT_RATE = 0.02
HALF_DAY_RATE = 0.01
FEVER_RATE = 0.005
FEVER_SENT_HOME = 0.7  # share of feverish pupils who go home early

# School life: who joins or leaves during the range, and what admins mark.
JOIN_SHARE = 0.05  # of pupils, enrolled from a date inside the range
LEAVE_SHARE = 0.05  # of pupils, enrolled until a date inside the range
CLASS_SIZE = 20  # pupils per class ("5A", "5B", ...), spread evenly
SICK_NOTE_RATE = 0.5  # of absent pupil-days, excused by a note afterwards
GATE_DOWN_RATE = 0.5  # of short days (left before 4 h), marked present: "gate reader down"
PLANNED_ABSENCES = 2  # per school, absent ranges ahead of today
DAY_END = time(16, 30)
LATE_AFTER = time(8, 15)

# Expected events per (user, school day), measured on 2,000 users x 3 months.
EVENTS_PER_USER_DAY = 2.16

CLOSURE_YEARS = range(2020, 2041)
PUBLIC_HOLIDAYS = ((1, 1), (5, 1), (12, 25))  # (month, day), closed every year


def _hms(hours: int, minutes: int = 0) -> int:
    """Seconds after local midnight."""
    return hours * 3600 + minutes * 60


ARRIVE_WINDOW = (_hms(7, 30), _hms(8, 15))
LATE_WINDOW = (_hms(8, 30), _hms(10, 30))
LEAVE_WINDOW = (_hms(14, 30), _hms(16, 30))
LUNCH_OUT_WINDOW = (_hms(11, 45), _hms(12, 15))
LUNCH_LENGTH = (30 * 60, 50 * 60)
NOON = _hms(12)
MIN_DAILY = 4 * 3600

# Temperatures are handled as integer tenths of a degree; one shared Decimal each.
NORMAL_TENTHS = (361, 372)
NORMAL_MODE_TENTHS = 366
FEVER_TENTHS = (376, 395)
_DECIMAL_TENTHS = {t: Decimal(t).scaleb(-1) for t in range(280, 431)}

_SCHOOL_PLACES = (
    "Riverside", "Oakwood", "Maple Grove", "Hillcrest", "Lakeview", "Sunrise",
    "Green Valley", "Cedar Park", "Westbrook", "Northfield", "Willow Creek",
    "Pine Ridge", "Harbor View", "Elmwood", "Brookside", "Fairview", "Kingsley",
    "Ashford", "Silver Lake", "Highland", "Hoa Sen", "Song Hong", "Ben Thanh",
    "Le Loi", "Tran Hung Dao", "Nguyen Du", "Saigon South", "Thang Long",
    "Lincoln", "Jefferson",
)  # fmt: skip
_SCHOOL_KINDS = (
    "Primary School", "Elementary School", "Middle School", "High School",
    "Academy", "International School",
)  # fmt: skip
_FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah",
    "Isabella", "James", "Mia", "William", "Amelia", "Benjamin", "Harper", "Lucas",
    "Evelyn", "Henry", "Abigail", "Theodore", "Emily", "Jack", "Ella", "Levi",
    "Scarlett", "Alexander", "Grace", "Mateo", "Chloe", "Daniel", "Lily", "Samuel",
    "Hannah", "Leo", "Zoe", "Owen", "Nora", "Ethan", "Aria", "Gabriel", "Layla",
    "Julian", "Maya", "Isaac", "Sofia", "Diego", "Valentina", "Santiago", "Lucia",
    "Carlos", "Camila", "Miguel", "Elena", "Javier", "Ana", "Hugo", "Clara",
    "Lena", "Felix", "Greta", "Jonas", "Amira", "Omar", "Yasmin", "Karim", "Priya",
    "Arjun", "Ananya", "Rohan", "Aisha", "Kofi", "Zara", "Hiro", "Yuki", "Sakura",
    "Minh", "An", "Linh", "Huy", "Mai", "Khoa", "Thao", "Bao", "Ngoc", "Tuan",
    "Lan", "Duc", "Hoa", "Quang", "Trang", "Wei", "Mei", "Jun", "Xin", "Ji-woo",
    "Min-jun", "Seo-yeon", "Mateus", "Ines", "Tomas",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson",
    "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill",
    "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Tran", "Le", "Pham", "Hoang", "Phan", "Vu",
    "Vo", "Dang", "Bui", "Do", "Ho", "Ngo", "Duong", "Ly", "Muller", "Schmidt",
    "Schneider", "Fischer", "Weber", "Meyer", "Rossi", "Russo", "Ferrari", "Bianchi",
    "Dubois", "Moreau", "Laurent", "Silva", "Santos", "Oliveira", "Costa", "Patel",
    "Sharma", "Singh", "Khan", "Ali", "Okafor", "Mensah", "Tanaka", "Suzuki",
    "Sato", "Kim", "Park", "Choi", "Wang", "Li", "Zhang", "Chen", "Liu", "Novak",
)  # fmt: skip
_MIDDLE_INITIALS = "ABCDEFGHJKLMNPRSTW"


def _rng(*parts: object) -> Random:
    """An independent random stream named by ``parts`` (stable across runs)."""
    # String seeds are hashed with SHA-512, so they do not depend on PYTHONHASHSEED.
    return Random(":".join(["demo", *map(str, parts)]))  # noqa: S311 - demo data


def school_plans(
    n: int, timezones: Sequence[str], seed: int, *, years: Iterable[int] = CLOSURE_YEARS
) -> list[SchoolPlan]:
    """``n`` schools with believable names, cycling ``timezones`` and some closures.

    Closures, for every year in ``years``: a few public holidays shared by all
    schools, plus one school-specific staff training day (a weekday) per month, so
    any month of demo data shows a closed day.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    zones = list(timezones) or ["UTC"]
    for zone in zones:
        ZoneInfo(zone)  # fail early on an unknown timezone name
    combos = [f"{p} {k}" for p in _SCHOOL_PLACES for k in _SCHOOL_KINDS]
    _rng(seed, "school-names").shuffle(combos)
    year_list = list(years)
    plans = []
    for i in range(n):
        name = combos[i % len(combos)]
        if i >= len(combos):
            name += f" No. {i // len(combos) + 1}"
        plans.append(
            SchoolPlan(
                name=name,
                timezone=zones[i % len(zones)],
                closures=_closures(seed, i, year_list),
                day_end=DAY_END,
                late_after=LATE_AFTER,
            )
        )
    return plans


def _closures(seed: int, school_index: int, years: Iterable[int]) -> frozenset[date]:
    """Public holidays plus one seeded weekday per month."""
    days: set[date] = set()
    for year in years:
        days.update(date(year, m, d) for m, d in PUBLIC_HOLIDAYS)
        rng = _rng(seed, school_index, "closures", year)
        days.update(rng.choice(_weekdays(year, month)) for month in range(1, 13))
    return frozenset(days)


@cache
def _weekdays(year: int, month: int) -> tuple[date, ...]:
    """The Monday-to-Friday dates of one month."""
    last = monthrange(year, month)[1]
    days = (date(year, month, d) for d in range(1, last + 1))
    return tuple(d for d in days if d.isoweekday() <= 5)


def user_names(m: int, seed: int, school_index: int) -> list[str]:
    """``m`` distinct pupil names; the first k names do not depend on ``m``."""
    capacity = len(_FIRST_NAMES) * len(_LAST_NAMES) * (len(_MIDDLE_INITIALS) + 1)
    if not 0 <= m <= capacity:
        raise ValueError(f"m must be between 0 and {capacity}")
    names: list[str] = []
    seen: set[str] = set()
    for key in range(m):
        rng = _rng(seed, school_index, key, "name")
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        while name in seen:  # a namesake: tell them apart like a school register
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            name = f"{first} {rng.choice(_MIDDLE_INITIALS)}. {last}"
        seen.add(name)
        names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class _Profile:
    """A pupil's habits, drawn once."""

    absence: float
    arrive: int  # usual arrival, seconds after local midnight
    leave: int  # usual departure


def _profile(seed: int, school_index: int, user_key: int) -> _Profile:
    """Draw one pupil's habits."""
    rng = _rng(seed, school_index, user_key, "profile")
    chronic = rng.random() < CHRONIC_SHARE
    absence = rng.uniform(*(CHRONIC_ABSENCE if chronic else USUAL_ABSENCE))
    arrive = rng.randint(ARRIVE_WINDOW[0] + 600, ARRIVE_WINDOW[1] - 600)
    leave = rng.randint(LEAVE_WINDOW[0] + 900, LEAVE_WINDOW[1] - 900)
    return _Profile(absence, arrive, leave)


def pupil_plans(
    users: int, start: date, end: date, seed: int, school_index: int
) -> list[PupilPlan]:
    """The school's register: pupil numbers, classes, and a few joiners and leavers.

    Joiners are enrolled from, and leavers until, a date in the middle half of the range
    (so each has days on both sides of it); the rest are enrolled throughout.
    """
    groups = max(1, -(-users // CLASS_SIZE))
    labels = [f"{5 + i // 4}{'ABCD'[i % 4]}" for i in range(groups)]
    span = (end - start).days
    plans = []
    for key in range(users):
        rng = _rng(seed, school_index, key, "enrolment")
        draw = rng.random()
        moved = start + timedelta(days=rng.randint(span // 4, span * 3 // 4)) if span >= 4 else None
        joins = moved is not None and draw < JOIN_SHARE
        leaves = moved is not None and JOIN_SHARE <= draw < JOIN_SHARE + LEAVE_SHARE
        plans.append(
            PupilPlan(
                key=key,
                external_id=str(10001 + key),
                group=labels[key % groups],
                enrolled_from=moved if joins else None,
                enrolled_until=moved if leaves else None,
            )
        )
    return plans


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    """``value`` limited to the inclusive ``bounds``."""
    return max(bounds[0], min(bounds[1], value))


# (seconds after local midnight, is_checkin, temperature in tenths)
_Step = tuple[int, bool, int]


def _user_day(rng: Random, profile: _Profile, lunch_rate: float = LUNCH_RATE) -> list[_Step]:
    """One pupil's events on one school day, in time order (empty when absent)."""
    if rng.random() < profile.absence:
        return []
    fever = rng.random() < FEVER_RATE

    def temp() -> int:
        if fever:
            return rng.randint(*FEVER_TENTHS)
        low, high = NORMAL_TENTHS
        return round(rng.triangular(low - 0.49, high + 0.49, NORMAL_MODE_TENTHS))

    late = rng.random() < LATE_RATE
    if late:
        arrive = rng.randint(*LATE_WINDOW)
    else:
        arrive = _clamp(profile.arrive + rng.randint(-600, 600), ARRIVE_WINDOW)
    steps: list[_Step] = [(arrive, True, temp())]
    if fever and rng.random() < FEVER_SENT_HOME:
        steps.append((arrive + rng.randint(1800, 3 * 3600), False, temp()))
        return steps
    if rng.random() < HALF_DAY_RATE:
        # Leaves before noon having stayed under 4 h: absent by the rules.
        latest = min(arrive + MIN_DAILY - 60, NOON - 60)
        steps.append((rng.randint(arrive + 1800, latest), False, temp()))
        return steps
    # Latecomers skip the lunch trip and stay over 4 h: present like everybody else.
    if not late and rng.random() < lunch_rate:
        out = rng.randint(*LUNCH_OUT_WINDOW)
        steps.append((out, False, temp()))
        steps.append((out + rng.randint(*LUNCH_LENGTH), True, temp()))
    if rng.random() >= FORGET_CHECKOUT_RATE:
        leave = _clamp(profile.leave + rng.randint(-900, 900), LEAVE_WINDOW)
        if late:
            leave = max(leave, arrive + MIN_DAILY + rng.randint(600, 1800))
        steps.append((leave, False, temp()))
    return steps


def _utc_base(day: date, tz: ZoneInfo) -> datetime | None:
    """Local midnight's offset applied in UTC, if school hours share one offset."""
    morning = datetime.combine(day, time(6), tz).utcoffset()
    evening = datetime.combine(day, time(18), tz).utcoffset()
    if morning is None or morning != evening:
        return None  # the offset changes during school hours: convert each event
    return datetime.combine(day, time(), UTC) - morning


def generate_school_events(
    plan: SchoolPlan,
    users: int,
    start: date,
    end: date,
    seed: int,
    school_index: int = 0,
    now: datetime | None = None,
    lunch_rate: float = LUNCH_RATE,
    pupils: Sequence[PupilPlan] | None = None,
) -> Iterator[GeneratedEvent]:
    """Yield one school's events for local dates ``start``..``end`` (inclusive).

    With ``pupils`` (see `pupil_plans`), a pupil has no events outside its enrolment;
    without, every user is enrolled throughout.

    ``lunch_rate`` is the share of pupils who go out for lunch (a check-out and a
    check-in more); 1.0 is an open-campus school, about 3.7 events per pupil-day.

    Events come day by day in timestamp order (ties: user, then event number).
    With ``now``, nothing after ``now`` is yielded: later days give nothing, and on
    ``now``'s local date a pupil who arrived but has not left yet is checked in.
    """
    if users < 0:
        raise ValueError("users must not be negative")
    tz = ZoneInfo(plan.timezone)
    if now is not None:
        if now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        end = min(end, local_today(now, plan.timezone))
    profiles = [_profile(seed, school_index, key) for key in range(users)]
    day = start
    while day <= end:
        if day.isoweekday() in plan.school_days and day not in plan.closures:
            absent = (
                frozenset()
                if pupils is None
                else frozenset(p.key for p in pupils if not p.enrolled(day))
            )
            yield from _school_day(tz, profiles, day, seed, school_index, now, lunch_rate, absent)
        day += timedelta(days=1)


def generate_school_marks(
    plan: SchoolPlan,
    pupils: Sequence[PupilPlan],
    start: date,
    end: date,
    seed: int,
    school_index: int,
    today: date,
    lunch_rate: float = LUNCH_RATE,
) -> list[GeneratedMark]:
    """The marks an admin would have recorded by ``today`` (the school's local date).

    Before today: a sick note (an excused absence) on some of the days a pupil has no
    events, and a present mark on some of the days a pupil left within 4 h without a
    fever ("gate reader down"). Ahead of today: a few planned absences over a range.
    The days replay the events' own random draws, so marks and events agree.
    """
    profiles = {p.key: _profile(seed, school_index, p.key) for p in pupils}
    marks: list[GeneratedMark] = []
    day = start
    while day <= min(end, today - timedelta(days=1)):
        if _is_school_day(plan, day):
            for pupil in pupils:
                if not pupil.enrolled(day):
                    continue
                rng = _rng(seed, school_index, pupil.key, day.isoformat())
                steps = _user_day(rng, profiles[pupil.key], lunch_rate)
                draw = _rng(seed, school_index, pupil.key, day.isoformat(), "mark").random()
                if not steps and draw < SICK_NOTE_RATE:
                    marks.append(GeneratedMark(pupil.key, day, day, ABSENT, True, "Sick note"))
                elif _short(steps) and draw < GATE_DOWN_RATE:
                    marks.append(
                        GeneratedMark(pupil.key, day, day, PRESENT, False, "Gate reader down")
                    )
        day += timedelta(days=1)
    staying = [p for p in pupils if p.enrolled_until is None]
    rng = _rng(seed, school_index, "planned")
    for pupil in rng.sample(staying, min(PLANNED_ABSENCES, len(staying))):
        first = today + timedelta(days=rng.randint(2, 14))
        last = first + timedelta(days=rng.randint(2, 6))
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        if any(_is_school_day(plan, d) and pupil.enrolled(d) for d in days):
            marks.append(GeneratedMark(pupil.key, first, last, ABSENT, True, "Family trip"))
    return marks


def _is_school_day(plan: SchoolPlan, day: date) -> bool:
    return day.isoweekday() in plan.school_days and day not in plan.closures


def _short(steps: Sequence[_Step]) -> bool:
    """Checked in and out once, within 4 h, without a fever (absent by the events alone)."""
    return (
        len(steps) == 2
        and steps[1][0] - steps[0][0] < MIN_DAILY
        and all(tenths < FEVER_TENTHS[0] for _, _, tenths in steps)
    )


def _school_day(
    tz: ZoneInfo,
    profiles: Sequence[_Profile],
    day: date,
    seed: int,
    school_index: int,
    now: datetime | None,
    lunch_rate: float,
    absent: frozenset[int] = frozenset(),
) -> Iterator[GeneratedEvent]:
    """All users' events of one school day, sorted, cut at ``now`` (none for ``absent``)."""
    base = _utc_base(day, tz)
    local_midnight = datetime.combine(day, time())
    stamp = day.strftime("%Y%m%d")
    rows: list[tuple[datetime, int, int, bool, int]] = []
    for key, profile in enumerate(profiles):
        if key in absent:
            continue
        rng = _rng(seed, school_index, key, day.isoformat())
        for n, (seconds, is_checkin, tenths) in enumerate(_user_day(rng, profile, lunch_rate)):
            if base is not None:
                ts = base + timedelta(seconds=seconds)
            else:
                local = local_midnight + timedelta(seconds=seconds)
                ts = local.replace(tzinfo=tz).astimezone(UTC)
            rows.append((ts, key, n, is_checkin, tenths))
    rows.sort()
    for ts, key, n, is_checkin, tenths in rows:
        if now is not None and ts > now:
            return
        yield GeneratedEvent(
            user_key=key,
            type=CHECKIN if is_checkin else CHECKOUT,
            timestamp=ts,
            temperature=_DECIMAL_TENTHS[tenths],
            client_event_id=f"demo-{seed}-{school_index}-{key}-{stamp}-{n}",
        )


def count_estimate(users: int, school_days: int) -> int:
    """Roughly how many events ``users`` pupils make over ``school_days`` days."""
    return round(max(users, 0) * max(school_days, 0) * EVENTS_PER_USER_DAY)


MAX_SCHOOLS = 1000
MAX_USERS = 20_000  # per school
MAX_DAYS = 366


@dataclass(frozen=True)
class DemoSpec:
    """What to generate: schools, users per school, a range of local dates, a seed.

    Schools in `saturday_timezones` teach Monday to Saturday, the others Monday to Friday.
    """

    schools: int
    users: int
    start: date
    end: date
    timezones: Sequence[str] = ("UTC",)
    seed: int = 1
    saturday_timezones: frozenset[str] = frozenset()

    def check(self) -> None:
        """Refuse a spec that is empty or unreasonably large."""
        if not 1 <= self.schools <= MAX_SCHOOLS:
            raise ValueError(f"schools must be between 1 and {MAX_SCHOOLS}")
        if not 1 <= self.users <= MAX_USERS:
            raise ValueError(f"users must be between 1 and {MAX_USERS}")
        if self.end < self.start:
            raise ValueError("the end date is before the start date")
        if (self.end - self.start).days >= MAX_DAYS:
            raise ValueError(f"the date range must not exceed {MAX_DAYS} days")

    def plans(self) -> list[SchoolPlan]:
        """The generator's plan of each school."""
        plans = school_plans(self.schools, self.timezones, self.seed)
        six_days = frozenset(range(1, 7))
        return [
            replace(p, school_days=six_days) if p.timezone in self.saturday_timezones else p
            for p in plans
        ]

    def estimate(self) -> int:
        """Roughly how many events the spec makes (for progress bars)."""
        weekdays = sum(
            1
            for n in range((self.end - self.start).days + 1)
            if (self.start + timedelta(days=n)).isoweekday() <= 5
        )
        return count_estimate(self.users, weekdays) * self.schools


# The quick demo (`flask demo --quick`, what `make run` loads): three continents, and
# one school in Vietnam, where many schools teach on Saturdays.
QUICK_TIMEZONES = ("Europe/London", "Asia/Ho_Chi_Minh", "America/New_York")
QUICK_SATURDAYS = frozenset({"Asia/Ho_Chi_Minh"})
QUICK_SEED = 2026


def quick_spec(
    now: datetime, schools: int, users: int, weeks: int, seed: int = QUICK_SEED
) -> DemoSpec:
    """The quick demo: `weeks` weeks up to `now`'s date wherever that is latest."""
    end = max(local_today(now, z) for z in QUICK_TIMEZONES)
    return DemoSpec(
        schools=schools,
        users=users,
        start=end - timedelta(weeks=weeks),
        end=end,
        timezones=QUICK_TIMEZONES,
        seed=seed,
        saturday_timezones=QUICK_SATURDAYS,
    )


def avatar_png(seed: str, size: int = 64) -> bytes:
    """A small PNG: a coloured head and shoulders on a pale ground (a stand-in photo)."""
    digest = hashlib.sha256(seed.encode()).digest()
    colour = bytes(80 + b % 150 for b in digest[:3])
    ground, skin = (
        bytes((236, 240, 244)),
        bytes((224, 172, 140)) if digest[3] % 2 else bytes((150, 104, 78)),
    )
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            dx, head_dy, body_dy = x - size / 2, y - size * 0.38, y - size * 1.05
            if dx * dx + head_dy * head_dy < (size * 0.2) ** 2:
                row += skin
            elif dx * dx + body_dy * body_dy < (size * 0.45) ** 2:
                row += colour
            else:
                row += ground
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )
