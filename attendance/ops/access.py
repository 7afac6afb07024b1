"""Who may open the operations pages (the RQ dashboard): signed-in district admins."""

from __future__ import annotations

from typing import Any

from flask import abort


def require_district_admin() -> Any:
    """None for a signed-in district admin; otherwise the login redirect, 401 or 403.

    The sign-in and the roles are the admin dashboard's (`attendance.dashboard.auth`);
    without it nobody is let in.
    """
    try:
        from ..dashboard import auth
    except ImportError:
        abort(403)
    guarded = auth.login_required(lambda: None)()
    if guarded is not None:
        return guarded  # not signed in: the dashboard's redirect to its login page (or 401)
    admin = auth.current_admin()
    if admin is None or admin.role != auth.DISTRICT:
        abort(403)
    return None
