"""/api/schools: the Phoenix service's school routes, plus closures."""

from __future__ import annotations

from typing import Any

from flask import abort, url_for
from flask.views import MethodView
from sqlalchemy import select

from ..extensions import db
from ..models import Closure, School
from ..schemas.schools import ClosureInSchema, ClosureSchema, SchoolInSchema, SchoolSchema
from ..security.principals import allow, check_school, scope_query
from ..security.roles import SCHOOL
from ..services import schools as service
from .common import Blueprint, PageArgs, envelope, get_or_404, paginate

blp = Blueprint("schools", __name__, url_prefix="/api/schools", description="Schools")


@blp.route("")
class Schools(MethodView):
    @allow(SCHOOL)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, envelope(SchoolSchema, many=True))
    def get(self, page: dict[str, Any]) -> Any:
        """List schools (a school admin sees its own)."""
        return paginate(scope_query(select(School).order_by(School.id), School.id), page)

    @blp.arguments(SchoolInSchema)
    @blp.response(201, envelope(SchoolSchema))
    def post(self, data: dict[str, Any]) -> Any:
        """Create a school."""
        school = service.create_school(data)
        db.session.commit()
        return {"data": school}, 201, {"Location": url_for(".SchoolItem", school_id=school.id)}


@blp.route("/<int:school_id>")
class SchoolItem(MethodView):
    @allow(SCHOOL)
    @blp.response(200, envelope(SchoolSchema))
    def get(self, school_id: int) -> Any:
        """Show a school."""
        return {"data": get_or_404(School, school_id)}

    @allow(SCHOOL)
    @blp.arguments(SchoolInSchema(partial=True))
    @blp.response(200, envelope(SchoolSchema))
    def patch(self, data: dict[str, Any], school_id: int) -> Any:
        """Update some of a school's fields."""
        return _update(school_id, data)

    @allow(SCHOOL)
    @blp.arguments(SchoolInSchema(partial=True))
    @blp.response(200, envelope(SchoolSchema))
    def put(self, data: dict[str, Any], school_id: int) -> Any:
        """Update a school (fields left out keep their values, as the Phoenix service did)."""
        return _update(school_id, data)

    @blp.response(204)
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, school_id: int) -> None:
        """Delete a school with no users and no history (409 otherwise)."""
        service.delete_school(get_or_404(School, school_id))
        db.session.commit()


@blp.route("/<int:school_id>/closures")
class Closures(MethodView):
    @allow(SCHOOL)
    @blp.response(200, envelope(ClosureSchema, many=True))
    def get(self, school_id: int) -> Any:
        """List a school's closure dates (holidays)."""
        school = get_or_404(School, school_id)
        return {"data": school.closures}

    @allow(SCHOOL)
    @blp.arguments(ClosureInSchema)
    @blp.response(201, envelope(ClosureSchema))
    @blp.alt_response(200, schema=envelope(ClosureSchema), description="Already closed that day")
    def post(self, data: dict[str, Any], school_id: int) -> Any:
        """Add a closure date; an existing date answers 200 with the existing record."""
        school = get_or_404(School, school_id)
        closure, created = service.add_closure(school, data["date"], data.get("name"))
        db.session.commit()
        location = url_for(".ClosureItem", school_id=school_id, closure_id=closure.id)
        return {"data": closure}, 201 if created else 200, {"Location": location}


@blp.route("/<int:school_id>/closures/<int:closure_id>")
class ClosureItem(MethodView):
    @allow(SCHOOL)
    @blp.response(200, envelope(ClosureSchema))
    def get(self, school_id: int, closure_id: int) -> Any:
        """Show a closure."""
        return {"data": _closure(school_id, closure_id)}

    @allow(SCHOOL)
    @blp.response(204)
    def delete(self, school_id: int, closure_id: int) -> None:
        """Remove a closure date."""
        service.remove_closure(_closure(school_id, closure_id))
        db.session.commit()


def _update(school_id: int, data: dict[str, Any]) -> Any:
    school = service.update_school(get_or_404(School, school_id), data)
    db.session.commit()
    return {"data": school}


def _closure(school_id: int, closure_id: int) -> Closure:
    check_school(school_id)
    closure: Closure = get_or_404(Closure, closure_id)
    if closure.school_id != school_id:
        abort(404)
    return closure
