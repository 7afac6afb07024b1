"""The photo a device sent with an event, for the fever table's thumbnails."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from flask import abort
from werkzeug.wrappers import Response

from ..extensions import db
from ..models import Attendance
from . import bp
from .auth import login_required, school_or_403

PHOTO = re.compile(r"data:(image/(?:png|jpeg|gif|webp));base64,([A-Za-z0-9+/=\s]+)")


@bp.get("/attendances/<int:attendance_id>/photo")
@login_required
def photo(attendance_id: int) -> Any:
    """The photo of an event, when it was sent inline (a data: URI)."""
    event = db.get_or_404(Attendance, attendance_id)
    school_or_403(event.school_id)
    match = PHOTO.fullmatch(event.image or "")
    if match is None:
        abort(404)
    try:
        data = base64.b64decode(match.group(2), validate=False)
    except (binascii.Error, ValueError):
        abort(404)
    response = Response(data, mimetype=match.group(1))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response
