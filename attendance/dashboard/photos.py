"""The photo a device sent with an event, for the fever tables' thumbnails."""

from __future__ import annotations

from typing import Any

from ..extensions import db
from ..models import Attendance
from ..security import images
from . import bp
from .auth import login_required, school_or_403


@bp.get("/attendances/<int:attendance_id>/photo")
@login_required
def photo(attendance_id: int) -> Any:
    """The stored photo of an event (404 without one), for admins who may see its school."""
    event = db.get_or_404(Attendance, attendance_id)
    school_or_403(event.school_id)
    return images.send(event.image)
