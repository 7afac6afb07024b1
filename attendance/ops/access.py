"""Who may open the operations pages (the RQ dashboard): signed-in district admins."""

from __future__ import annotations

from typing import Any

from flask import abort


def require_district_admin() -> Any:
    """None for a signed-in district admin; otherwise the login redirect, 401 or 403.

    The sign-in is the admin dashboard's (`attendance.dashboard.auth`): a visitor without
    a session is sent to its login page (401 for a JSON request), a school admin gets 403.
    """
    from ..dashboard import auth
    from ..security.roles import DISTRICT

    refused = auth.login_required(lambda: None)()
    if refused is not None:
        return refused
    admin = auth.current_admin()
    if admin is None or admin.role != DISTRICT:
        abort(403)
    return None
