"""API tokens: minted at random, shown once, stored as a hash, named, listed and revoked."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session, object_session

from .. import clock
from ..extensions import db
from ..models import School
from ..services import ServiceError
from .models import ApiToken
from .roles import DISTRICT, TOKEN_ROLES

# A prefix lets secret scanners and people recognise a leaked token.
PREFIX = "att_"
# last_used_at is written at most this often per token, to keep the hot ingest path read-only.
TOUCH_EVERY = dt.timedelta(minutes=1)


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256 suffices for 256 random bits (it is not a password)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_binding(role: str, school_id: int | None, roles: tuple[str, ...]) -> None:
    """A known role; district without a school, any other role with an existing one."""
    if role not in roles:
        raise ServiceError("role", f"must be one of {', '.join(roles)}")
    if role == DISTRICT:
        if school_id is not None:
            raise ServiceError("school_id", "district roles are not bound to a school")
    elif school_id is None:
        raise ServiceError("school_id", f"the {role} role needs a school")
    elif db.session.get(School, school_id) is None:
        raise ServiceError("school_id", f"school {school_id} does not exist")


def create_token(role: str, school_id: int | None = None, name: str = "") -> tuple[ApiToken, str]:
    """Mint a token; returns its row and the token itself, which is not stored anywhere."""
    check_binding(role, school_id, TOKEN_ROLES)
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name or f"{role} token", role=role, school_id=school_id, token_hash=hash_token(token)
    )
    db.session.add(row)
    db.session.flush()
    return row, token


def list_tokens() -> Sequence[ApiToken]:
    """Every token, oldest first."""
    return db.session.scalars(select(ApiToken).order_by(ApiToken.id)).all()


def revoke_token(token_id: int) -> ApiToken:
    """Revoke a token from now on (revoking twice keeps the first time)."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise ServiceError("id", f"token {token_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        db.session.flush()
    return row


def well_formed(token: str) -> bool:
    """True when the presented text could be one of our tokens (else it is not looked up)."""
    return token.startswith(PREFIX) and len(token) <= 200


def find_active(token: str, digest: str | None = None) -> ApiToken | None:
    """The live token row a presented token stands for (`digest`: its hash), or None."""
    if not well_formed(token):
        return None
    digest = digest or hash_token(token)
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or row.revoked_at is not None:
        return None
    return row


def due(last_used_at: dt.datetime | None, now: dt.datetime) -> bool:
    """True when a use at `now` should be recorded (at most once per TOUCH_EVERY)."""
    return last_used_at is None or now - last_used_at >= TOUCH_EVERY


def touch(token_id: int, last_used_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Record a use, at most once per TOUCH_EVERY; True when a row was written."""
    if not due(last_used_at, now):
        return False
    # The condition makes concurrent workers write once between them, not once each.
    result = db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


# -- telling the web processes' token caches (security/gate.py) -----------------------------

_CHANGED = "attendance.tokens_changed"


def _mark(mapper: Any, connection: Any, target: Any) -> None:
    """A token was updated or deleted, or a school (and so its tokens) deleted."""
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


def _gate() -> Any:
    if not has_app_context():
        return None
    return current_app.extensions.get("attendance_gate")


def _after_flush(session: Session, flush_context: Any) -> None:
    """Tokens changed in this flush: before the transaction commits, stop the caching."""
    if session.info.get(_CHANGED) is True and (gate := _gate()) is not None:
        gate.changing()  # raises when Redis cannot be told: the change is not committed
        session.info[_CHANGED] = "announced"


def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False) and (gate := _gate()) is not None:
        gate.changed()


def _after_rollback(session: Session) -> None:
    if session.info.pop(_CHANGED, False) and (gate := _gate()) is not None:
        gate.changed()  # nothing changed after all; caching resumes


_installed = False


def install_hooks() -> None:
    """Watch token and school changes (once per process)."""
    global _installed
    if _installed:
        return
    event.listen(ApiToken, "after_update", _mark)
    event.listen(ApiToken, "after_delete", _mark)
    event.listen(School, "after_delete", _mark)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _installed = True
