"""The photo a device sent with an event, for the fever tables' thumbnails."""

from __future__ import annotations

from typing import Any

from flask import abort

from ..extensions import db
from ..models import Attendance
from ..security import images
from . import bp
from .auth import can_see, current_admin, login_required


@bp.get("/attendances/<int:attendance_id>/photo")
@login_required
def photo(attendance_id: int) -> Any:
    """The stored photo of an event, for admins who may see its school (404 for the others)."""
    event = db.session.get(Attendance, attendance_id)
    admin = current_admin()
    # Another school's event answers as an unknown one: its id reveals nothing.
    if event is None or admin is None or not can_see(admin, event.school_id):
        abort(404)
    return images.send(event.image)
