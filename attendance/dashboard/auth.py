"""Signing in and out, the signed-in admin, and which schools they may see."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, render_template, request, session, url_for

from ..extensions import csrf, db
from ..models import School
from . import bp

DISTRICT, SCHOOL = "district", "school"
ADMIN_KEY = "attendance.dashboard.admin"


class AdminLike(Protocol):
    """What the dashboard needs of an admin account (see attendance.security.admins)."""

    id: int
    email: str
    role: str
    school_id: int | None
    disabled: bool


def authenticate(email: str, password: str) -> AdminLike | None:
    """The active admin with these credentials, or None."""
    from ..security.admins import authenticate as check

    return check(email, password)


def load_admin(admin_id: int) -> AdminLike | None:
    """The admin account with this id, or None."""
    from ..security.admins import Admin

    return db.session.get(Admin, admin_id)


def log_in(admin: AdminLike) -> None:
    """Start a fresh session for the admin."""
    session.clear()
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME of inactivity
    session["admin_id"] = admin.id
    session["login_at"] = int(time.time())


def current_admin() -> AdminLike | None:
    """The signed-in admin, or None (also when the session is too old or the account disabled)."""
    # Cached per request (not on `g`: an app context can outlive a request, as in tests).
    if ADMIN_KEY not in request.environ:
        request.environ[ADMIN_KEY] = _session_admin()
    admin: AdminLike | None = request.environ[ADMIN_KEY]
    return admin


def _session_admin() -> AdminLike | None:
    admin_id, login_at = session.get("admin_id"), session.get("login_at")
    if not isinstance(admin_id, int) or not isinstance(login_at, int):
        return None
    max_age = current_app.config["DASHBOARD_SESSION_MAX_AGE"].total_seconds()
    if time.time() - login_at > max_age:
        session.clear()
        return None
    admin = load_admin(admin_id)
    if admin is None or admin.disabled:
        session.clear()
        return None
    return admin


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send visitors without a valid session to the login page, then back."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_admin() is None:
            if request.accept_mimetypes.best == "application/json":
                abort(401)
            return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def can_see(admin: AdminLike, school_id: int) -> bool:
    """District admins see every school; school admins only their own."""
    return admin.role == DISTRICT or (admin.role == SCHOOL and admin.school_id == school_id)


def school_or_403(school_id: int) -> School:
    """The school, if the signed-in admin may see it (403 otherwise, 404 if it does not exist)."""
    admin = current_admin()
    if admin is None or not can_see(admin, school_id):
        abort(403)
    return db.get_or_404(School, school_id)


def _safe_next(target: str | None) -> str | None:
    """A local path to return to after login; anything pointing elsewhere is dropped."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


@bp.before_request
def _protect_forms() -> None:
    # Every unsafe request to the dashboard carries the session's CSRF token.
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The sign-in form."""
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_admin() is not None:
            return redirect(target or url_for("dashboard.overview"))
        return render_template("dashboard/login.html", next=target)
    email = request.form.get("email", "").strip()
    admin = authenticate(email, request.form.get("password", ""))
    if admin is None:
        error = "That email and password do not match an active admin account."
        page = render_template("dashboard/login.html", next=target, email=email, error=error)
        return page, 401
    log_in(admin)
    return redirect(target or url_for("dashboard.overview"))


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """Sign out (GET asks to confirm, so a link cannot sign anybody out)."""
    if request.method == "GET":
        return render_template("dashboard/logout.html")
    session.clear()
    return redirect(url_for("dashboard.login"))
