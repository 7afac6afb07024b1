"""Who is calling and what they may touch: the bearer-token check and the scope helpers.

The rules, applied everywhere:

- 401: no token, an unknown one, or a revoked one.
- 403: the principal's role may never call this route (a device listing attendances), or a
  school id it names in a query or body is not its own (decided without a lookup, so the
  answer says nothing about whether that school exists).
- 404: a resource addressed by path (a school, user, event, closure, report, image) outside
  the principal's school: the same answer as for an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_smorest import abort
from sqlalchemy import ColumnElement, Select

from .. import clock
from ..extensions import db
from ..models import School
from ..wire import is_api_request
from . import tokens
from .gate import Gate
from .limits import WRITE_METHODS, too_many
from .models import Admin, ApiToken
from .roles import DEVICE, DISTRICT, SCHOOL, STAFF

F = TypeVar("F", bound=Callable[..., Any])
ROLES_ATTR = "_allowed_roles"
# Paths under /api that need no token: the published API description and its page.
PUBLIC_PATHS = frozenset({"/api/openapi.json", "/api/docs"})
REALM = 'Bearer realm="attendance"'


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a role, the school it is bound to, and where it came from."""

    role: str
    school_id: int | None = None
    token_id: int | None = None
    admin_id: int | None = None

    @classmethod
    def from_token(cls, row: ApiToken) -> Principal:
        return cls(role=row.role, school_id=row.school_id, token_id=row.id)

    @classmethod
    def from_admin(cls, admin: Admin) -> Principal:
        """For the dashboard: the same scope rules for a logged-in admin."""
        return cls(role=admin.role, school_id=admin.school_id, admin_id=admin.id)

    def sees(self, school_id: int | None) -> bool:
        """True when the principal may see data of this school."""
        return self.role == DISTRICT or (school_id is not None and school_id == self.school_id)


def allow(*roles: str) -> Callable[[F], F]:
    """Let these roles call a route besides district admins (routes not marked: district only)."""
    unknown = set(roles) - {SCHOOL, DEVICE, STAFF}
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def mark(func: F) -> F:
        setattr(func, ROLES_ATTR, frozenset({DISTRICT, *roles}))
        return func

    return mark


def current() -> Principal:
    """The request's principal (the before-request hook has set it on every /api route)."""
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise RuntimeError("no principal: is this route outside /api?")
    return principal


def check_school(school_id: int | None) -> None:
    """404 unless the caller may see this school: out of scope looks like not there."""
    if not current().sees(school_id):
        abort(404)


def check_row(row: Any) -> None:
    """404 unless the caller may see the school a row belongs to (rows of no school: no check)."""
    if isinstance(row, School):
        check_school(row.id)
    elif hasattr(row, "school_id"):
        check_school(row.school_id)


def claim_school(school_id: int | None) -> None:
    """403 unless the caller may act for the school it names in a query or a body."""
    if not current().sees(school_id):
        abort(403, errors={"detail": "this token may not act for that school"})


def scope_query(query: Select[Any], column: ColumnElement[Any] | Any) -> Select[Any]:
    """Narrow a list query to the caller's school (district admins: unchanged)."""
    principal = current()
    if principal.role == DISTRICT:
        return query
    return query.where(column == principal.school_id)


def _allowed_roles() -> frozenset[str]:
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    method = request.method.lower()
    if method == "head":
        method = "get"
    target = getattr(view_class, method, None) if view_class is not None else view
    if method == "options" and target is None:
        return frozenset({DISTRICT, SCHOOL, DEVICE, STAFF})
    return getattr(target, ROLES_ATTR, frozenset({DISTRICT}))


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _unauthorized(detail: str, presented: bool) -> None:
    challenge = REALM + (', error="invalid_token"' if presented else "")
    abort(401, errors={"detail": detail}, headers={"WWW-Authenticate": challenge})


def authenticate_request() -> Response | None:
    """Before every /api request: resolve the bearer token, check the route's roles and
    count a write against the token's rate limit (429 past it).

    A token seen before comes from the process's cache, checked against the version
    read in the same Redis round trip that counts the write (security/gate.py).
    """
    if not is_api_request() or request.path in PUBLIC_PATHS:
        return None
    token = _bearer()
    if token is None:
        _unauthorized("a bearer token is required", presented=False)
        return None
    gate: Gate = current_app.extensions["attendance_gate"]
    write = request.method in WRITE_METHODS
    digest = tokens.hash_token(token) if tokens.well_formed(token) else ""
    known = gate.known(digest) if digest else None
    # The write is counted in the round trip that reads the version, when the token is
    # known; a token that is not is counted once it is (a second round trip, once).
    checked = gate.check(_bucket(known.principal.token_id) if write and known else None)
    if known is not None and checked.version is not None and known.version == checked.version:
        principal, last_used_at = known.principal, known.last_used_at
    else:
        row = tokens.find_active(token, digest)
        if row is None:
            _unauthorized("the token is invalid or revoked", presented=True)
            return None
        principal, last_used_at = Principal.from_token(row), row.last_used_at
        if checked.version is not None:
            gate.remember(digest, principal, last_used_at, checked.version)
        if write:
            checked = gate.check(_bucket(row.id))
    now = clock.now()
    if tokens.due(last_used_at, now) and principal.token_id is not None:
        if tokens.touch(principal.token_id, last_used_at, now):
            # Its own small commit, before the route's work: once a minute per token at most.
            db.session.commit()
        gate.touched(digest, now)
    g.principal = principal
    if request.routing_exception is None and principal.role not in _allowed_roles():
        abort(403, errors={"detail": f"a {principal.role} token may not do this"})
    if write and gate.over_limit(checked):
        return too_many(gate, checked)
    return None


def _bucket(token_id: int | None) -> str:
    return f"token:{token_id}"


def init_app(app: Flask) -> None:
    """Install the check (first among the before-request hooks: the rate limits key on it)."""
    app.before_request_funcs.setdefault(None, []).insert(0, authenticate_request)
