"""Loading demo data into an empty database, so `make run` has something to show.

The events come from `attendance.demo` (the deterministic generator); this module only
stores them. It refuses to touch a database that already has schools.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import zlib
from dataclasses import dataclass, replace
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select

from .. import clock, demo
from ..extensions import db
from ..models import Closure, School, User
from ..security import admins, images
from ..security.models import DISTRICT, SCHOOL
from . import bulk

TIMEZONES = ("Europe/London", "Asia/Ho_Chi_Minh", "America/New_York")


@dataclass(frozen=True)
class Loaded:
    """What was loaded."""

    schools: int
    users: int
    events: int


def is_empty() -> bool:
    """True when there is no school yet."""
    return not db.session.scalar(select(exists().where(School.id.is_not(None))))


def load_demo(
    schools: int = 3,
    users: int = 60,
    weeks: int = 12,
    seed: int = 2026,
    now: dt.datetime | None = None,
) -> Loaded:
    """Store `schools` demo schools of `users` pupils with `weeks` weeks of events up to now."""
    now = now or clock.now()
    plans = demo.school_plans(schools, TIMEZONES, seed)
    # Many schools in Vietnam teach on Saturdays: one school does, for variety.
    plans = [
        replace(p, school_days=frozenset(range(1, 7))) if p.timezone == "Asia/Ho_Chi_Minh" else p
        for p in plans
    ]
    events = 0
    for index, plan in enumerate(plans):
        today = now.astimezone(ZoneInfo(plan.timezone)).date()
        start = today - dt.timedelta(weeks=weeks)
        school = School(
            name=plan.name, timezone=plan.timezone, school_days=sorted(plan.school_days)
        )
        db.session.add(school)
        db.session.flush()
        shown = [d for d in plan.closures if start <= d <= today + dt.timedelta(days=90)]
        db.session.add_all(Closure(school_id=school.id, date=d, name="Closed") for d in shown)
        people = [User(name=n, school_id=school.id) for n in demo.user_names(users, seed, index)]
        db.session.add_all(people)
        db.session.flush()
        threshold = school.fever_threshold or Decimal("37.5")
        rows = [
            bulk.Row(
                user_id=people[e.user_key].id,
                school_id=school.id,
                type=e.type,
                timestamp=e.timestamp,
                temperature=e.temperature,
                # Gates photograph everybody; the demo keeps photos of the fevers only.
                image=_photo(f"{seed}:{index}:{e.user_key}")
                if e.temperature >= threshold
                else None,
                received_at=e.timestamp,
                idempotency_key=e.client_event_id,
            )
            for e in demo.generate_school_events(plan, users, start, today, seed, index, now=now)
        ]
        # The bulk path bumps the version of every date it adds to: a report cache that
        # has figures for one of them must not keep serving them.
        events += bulk.copy_rows(rows, {school.id: school.timezone})
    db.session.flush()
    return Loaded(len(plans), len(plans) * users, events)


def _photo(seed: str) -> str:
    """A stored stand-in photo (the reference an attendance keeps)."""
    return images.save(images.Upload(avatar_png(seed)))


DEMO_PASSWORD = "attendance-demo"  # noqa: S105 - development only (the command refuses production)
DEMO_ADMINS = (("demo@example.org", DISTRICT), ("head@example.org", SCHOOL))


def demo_admins() -> list[tuple[str, str, int | None]]:
    """The demo accounts, created or reset to DEMO_PASSWORD: (email, role, school id)."""
    first = db.session.scalar(select(School.id).order_by(School.name, School.id).limit(1))
    accounts = []
    for email, role in DEMO_ADMINS:
        school_id = None if role == DISTRICT else first
        if school_id is None and role != DISTRICT:
            continue
        admin = admins.find_by_email(email)
        if admin is None:
            admin = admins.create_admin(email, DEMO_PASSWORD, role, school_id)
        else:
            admins.set_password(admin, DEMO_PASSWORD)
            admins.set_disabled(admin, False)
        accounts.append((admin.email, admin.role, admin.school_id))
    return accounts


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
