"""Admin accounts for the dashboard: argon2id password hashes, district or school roles."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..services import ServiceError
from .models import Admin
from .roles import ADMIN_ROLES
from .tokens import check_binding

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 would hash a megabyte happily; nobody types that.

# argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, 64 MiB, t=3, p=4).
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so both answers take as long."""
    return _hasher.hash("not-a-real-password-only-for-timing")


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ServiceError("password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")


def hash_password(password: str) -> str:
    """An argon2id hash of the password (salted, parameters embedded)."""
    return _hasher.hash(password)


def create_admin(email: str, password: str, role: str, school_id: int | None = None) -> Admin:
    """Create an admin account after checking the role, the school and the password."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise ServiceError("email", "must be an email address")
    check_binding(role, school_id, ADMIN_ROLES)
    if find_by_email(email) is not None:
        raise ServiceError("email", f"an admin with email {email} already exists")
    _check_password(password)
    admin = Admin(
        email=email, role=role, school_id=school_id, password_hash=hash_password(password)
    )
    db.session.add(admin)
    db.session.flush()
    return admin


def find_by_email(email: str) -> Admin | None:
    """The admin with this email (any case), or None."""
    return db.session.scalar(select(Admin).where(Admin.email == normalise_email(email)))


def list_admins() -> Sequence[Admin]:
    """Every admin account, oldest first."""
    return db.session.scalars(select(Admin).order_by(Admin.id)).all()


def end_sessions(admin: Admin) -> None:
    """End every dashboard session of the admin, on every device (see Admin.session_version)."""
    # Incremented in SQL: two concurrent bumps both count.
    admin.session_version = Admin.session_version + 1
    db.session.flush()


def set_password(admin: Admin, password: str) -> None:
    """Replace an admin's password; their sessions end (a stolen cookie dies with the old one)."""
    _check_password(password)
    admin.password_hash = hash_password(password)
    end_sessions(admin)


def set_disabled(admin: Admin, disabled: bool) -> None:
    """Disable (or re-enable) an account; disabling ends its sessions and stops logins."""
    admin.disabled = disabled
    if disabled:
        end_sessions(admin)
    db.session.flush()


def authenticate(email: str, password: str) -> Admin | None:
    """The enabled admin whose email and password match, or None; records the login time."""
    admin = find_by_email(email) if len(password) <= MAX_PASSWORD else None
    try:
        _hasher.verify(admin.password_hash if admin else _dummy_hash(), password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if admin is None or admin.disabled:
        return None
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = hash_password(password)
    admin.last_login_at = clock.now()
    db.session.flush()
    return admin
