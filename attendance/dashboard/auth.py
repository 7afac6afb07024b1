"""Signing in and out, the signed-in admin, and which schools they may see."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, render_template, request, session, url_for

from .. import clock
from ..extensions import csrf, db
from ..models import School
from ..security import admins, login_throttle
from ..security.models import Admin
from ..security.principals import Principal
from ..security.roles import DISTRICT
from . import bp

__all__ = ["DISTRICT", "can_see", "current_admin", "login_required", "school_or_403"]

ADMIN_KEY = "attendance.dashboard.admin"


def authenticate(email: str, password: str) -> Admin | None:
    """The enabled admin with these credentials, or None (records the login time)."""
    return admins.authenticate(email, password)


def load_admin(admin_id: int) -> Admin | None:
    """The admin account with this id, or None."""
    return db.session.get(Admin, admin_id)


def log_in(admin: Admin) -> None:
    """Start a fresh session for the admin."""
    session.clear()
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME of inactivity
    session["admin_id"] = admin.id
    session["login_at"] = int(clock.now().timestamp())
    session["version"] = admin.session_version


def current_admin() -> Admin | None:
    """The signed-in admin, or None (also when the session is too old or the account disabled)."""
    # Cached per request (not on `g`: an app context can outlive a request, as in tests).
    if ADMIN_KEY not in request.environ:
        request.environ[ADMIN_KEY] = _session_admin()
    admin: Admin | None = request.environ[ADMIN_KEY]
    return admin


def _session_admin() -> Admin | None:
    admin_id, login_at = session.get("admin_id"), session.get("login_at")
    version = session.get("version")
    if not isinstance(admin_id, int) or not isinstance(login_at, int):
        return None
    if not isinstance(version, int):  # a session from before versions: signed out
        return None
    max_age = current_app.config["DASHBOARD_SESSION_MAX_AGE"].total_seconds()
    if clock.now().timestamp() - login_at > max_age:
        session.clear()
        return None
    admin = load_admin(admin_id)
    # A session signed before the admin's last logout, password change or disabling is over.
    if admin is None or admin.disabled or admin.session_version != version:
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


def can_see(admin: Admin, school_id: int | None) -> bool:
    """District admins see every school; school admins only their own (the API's rule)."""
    return Principal.from_admin(admin).sees(school_id)


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
    # Control characters (CR/LF above all) have no place in a Location header.
    if any(unicodedata.category(char) == "Cc" for char in target):
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
    wait = login_throttle.wait(email)
    if wait is not None:
        error = WAIT_MESSAGES[wait.reason].format(seconds=wait.seconds)
        page = render_template("dashboard/login.html", next=target, email=email, error=error)
        return page, 429, {"Retry-After": str(wait.seconds)}
    admin = authenticate(email, request.form.get("password", ""))
    db.session.commit()  # the login time (or nothing)
    if admin is None:
        login_throttle.failed(email)
        error = "That email and password do not match an active admin account."
        page = render_template("dashboard/login.html", next=target, email=email, error=error)
        return page, 401
    login_throttle.succeeded(email)
    log_in(admin)
    return redirect(target or url_for("dashboard.overview"))


WAIT_MESSAGES = {
    login_throttle.BY_ADDRESS: "Too many sign-in attempts from this address. "
    "Wait {seconds} seconds and try again.",
    login_throttle.BY_ACCOUNT: "Too many failed sign-ins for this account. "
    "Wait {seconds} seconds and try again.",
}


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """Sign out (GET asks to confirm, so a link cannot sign anybody out)."""
    if request.method == "GET":
        return render_template("dashboard/logout.html")
    admin = current_admin()
    if admin is not None:
        # Every session of the account ends, not just this cookie: a copy of it (another
        # device, a stolen one) would otherwise stay valid until it expires.
        admins.end_sessions(admin)
        db.session.commit()
    session.clear()
    return redirect(url_for("dashboard.login"))
