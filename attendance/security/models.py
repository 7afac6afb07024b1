"""Who may call the service: API tokens (devices, scripts) and admin accounts (the dashboard)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from ..db_types import UTCDateTime, now_default, one_of
from ..extensions import Model
from .roles import ADMIN_ROLES, DISTRICT, TOKEN_ROLES


def school_binding() -> CheckConstraint:
    """District tokens and admins see every school; the others are bound to exactly one."""
    return CheckConstraint(f"(role = '{DISTRICT}') = (school_id IS NULL)", name="school_binding")


class ApiToken(Model):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        one_of("role", TOKEN_ROLES, name="role"),
        school_binding(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # A deleted school's tokens die with it.
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def revoked(self) -> bool:
        """True once the token has been revoked."""
        return self.revoked_at is not None


class Admin(Model):
    """A dashboard account: a district admin, or the admin of one school."""

    __tablename__ = "admins"
    __table_args__ = (
        one_of("role", ADMIN_ROLES, name="role"),
        school_binding(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so the unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_default)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Signed into every dashboard session; bumped to end them all (logout, a new password,
    # disabling), since a signed cookie cannot be taken back.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
