"""/api/schools/:id/marks: an admin's corrections (api.md "Marks")."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import abort, url_for
from flask.views import MethodView

from ..extensions import db
from ..models import Mark, School
from ..security.principals import allow, current
from ..security.roles import SCHOOL
from ..services import marks as service
from .common import Blueprint, PageArgs, envelope, get_or_404, paginate
from .schemas import MarkFilterSchema, MarkInSchema, MarkSchema

blp = Blueprint("marks", __name__, url_prefix="/api/schools", description="Marks")


def _created_by() -> str:
    principal = current()
    return service.creator(principal.token_id, principal.admin_id)


@blp.route("/<int:school_id>/marks")
class Marks(MethodView):
    @allow(SCHOOL)
    @blp.arguments(MarkFilterSchema, location="query")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, envelope(MarkSchema, many=True))
    def get(self, filters: dict[str, Any], page: dict[str, Any], school_id: int) -> Any:
        """List the effective marks (`history=true`: every entry, clearings included)."""
        get_or_404(School, school_id)
        return paginate(service.listed(school_id, filters), page)

    @allow(SCHOOL)
    @blp.arguments(MarkInSchema)
    @blp.response(201, envelope(MarkSchema, many=True))
    def post(self, data: dict[str, Any], school_id: int) -> Any:
        """Record a mark on a date, or on each school day of a range (the marks created)."""
        school = get_or_404(School, school_id)
        marks = service.record(school, data, _created_by())
        db.session.commit()
        query = {"user_id": data["user_id"], "from": marks[0].date, "to": marks[-1].date}
        location = url_for(".Marks", school_id=school_id) + "?" + urlencode(query)
        return {"data": marks}, 201, {"Location": location}


@blp.route("/<int:school_id>/marks/<int:mark_id>")
class MarkItem(MethodView):
    @allow(SCHOOL)
    @blp.response(204)
    def delete(self, school_id: int, mark_id: int) -> None:
        """Clear the mark's user and date (records a `cleared` entry)."""
        get_or_404(School, school_id)
        mark = db.session.get(Mark, mark_id)
        if mark is None or mark.school_id != school_id:
            abort(404)
        service.clear(mark, _created_by())
        db.session.commit()
