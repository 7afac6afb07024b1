"""/api/schools/:id/roll-calls and /api/roll-calls/:id: emergency roll calls (api.md "Roll calls").

District tokens, that school's admin tokens and its `staff` tokens; staff may account for
pupils and read roll calls, not start or close them; devices never.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from sqlalchemy import select

from ..extensions import db
from ..models import School
from ..roll_call_models import RollCall
from ..schemas.roll_calls import (
    NoBodySchema,
    RollCallArgs,
    RollCallEntrySchema,
    RollCallHistorySchema,
    RollCallSchema,
    RollCallSummarySchema,
    TicksInSchema,
    TicksOutSchema,
)
from ..security.principals import allow, current
from ..security.roles import SCHOOL, STAFF
from ..services import marks
from ..services import roll_call_reading as reading
from ..services import roll_calls as service
from .common import Blueprint, PageArgs, envelope, get_or_404, paginate

blp = Blueprint("roll_calls", __name__, url_prefix="/api", description="Roll calls")


def created_by() -> str:
    """Who the request acts for, as entries record it."""
    principal = current()
    return marks.creator(principal.token_id, principal.admin_id)


def ticks_of(data: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The ticks of a loaded body, and whether it was a list (`accounted`)."""
    if "accounted" in data:
        return data["accounted"], True
    return [data], False


def answer_ticks(roll_call: RollCall, data: dict[str, Any], by: str) -> Any:
    """Record the body's ticks and answer them (201 when any is new, else 200)."""
    ticks, many = ticks_of(data)
    done = service.record(roll_call, ticks, by, field="accounted" if many else "user_id")
    db.session.commit()
    entries = RollCallEntrySchema(many=True).dump(done.entries)
    return {"data": entries if many else entries[0]}, 201 if done.created else 200


@blp.route("/schools/<int:school_id>/roll-calls")
class SchoolRollCalls(MethodView):
    @allow(SCHOOL, STAFF)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, envelope(RollCallSummarySchema, many=True))
    def get(self, page: dict[str, Any], school_id: int) -> Any:
        """The school's roll calls, newest first, with their counts."""
        get_or_404(School, school_id)
        query = (
            select(RollCall)
            .where(RollCall.school_id == school_id)
            .order_by(RollCall.started_at.desc(), RollCall.id.desc())
        )
        listed = paginate(query, page)
        listed["data"] = [reading.reconcile(r) for r in listed["data"]]
        return listed

    @allow(SCHOOL)
    @blp.arguments(NoBodySchema, required=False)
    @blp.response(201, envelope(RollCallSchema))
    @blp.alt_response(200, schema=envelope(RollCallSchema), description="One was open already")
    def post(self, _body: dict[str, Any], school_id: int) -> Any:
        """Start a roll call: its expected list is who is checked in now."""
        school = get_or_404(School, school_id)
        roll_call, created = service.start(school, created_by())
        db.session.commit()
        location = url_for(".RollCallItem", roll_call_id=roll_call.id)
        return (
            {"data": reading.reconcile(roll_call)},
            201 if created else 200,
            {"Location": location},
        )


@blp.route("/roll-calls/<int:roll_call_id>")
class RollCallItem(MethodView):
    @allow(SCHOOL, STAFF)
    @blp.arguments(RollCallArgs, location="query")
    @blp.response(200, envelope(RollCallHistorySchema))
    def get(self, args: dict[str, Any], roll_call_id: int) -> Any:
        """A roll call: counts and the lists (`entries=true`: every entry too)."""
        roll_call = get_or_404(RollCall, roll_call_id)
        return {"data": reading.reconcile(roll_call, with_entries=args["entries"])}


@blp.route("/roll-calls/<int:roll_call_id>/accounted")
class RollCallTicks(MethodView):
    @allow(SCHOOL, STAFF)
    @blp.arguments(TicksInSchema)
    @blp.response(201, TicksOutSchema)
    @blp.alt_response(200, schema=TicksOutSchema, description="Every client_event_id seen before")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], roll_call_id: int) -> Any:
        """Account for a pupil, or take it back (`undo`); `accounted`: a list of them."""
        roll_call = get_or_404(RollCall, roll_call_id)
        return answer_ticks(roll_call, data, created_by())


@blp.route("/roll-calls/<int:roll_call_id>/close")
class RollCallClose(MethodView):
    @allow(SCHOOL)
    @blp.arguments(NoBodySchema, required=False)
    @blp.response(200, envelope(RollCallSchema))
    def post(self, _body: dict[str, Any], roll_call_id: int) -> Any:
        """Close the roll call; it stays readable as a record."""
        roll_call = get_or_404(RollCall, roll_call_id)
        closed = service.close(roll_call, created_by())
        db.session.commit()
        return {"data": reading.reconcile(closed)}
