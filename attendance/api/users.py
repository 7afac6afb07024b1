"""/api/users: the Phoenix service's user routes."""

from __future__ import annotations

from typing import Any

from flask import abort, url_for
from flask.views import MethodView

from ..extensions import db
from ..models import User
from ..security.principals import allow, check_row, claim_school, scope_query
from ..security.roles import DEVICE, SCHOOL
from ..services import users as service
from .common import Blueprint, PageArgs, envelope, paginate
from .schemas import UserFilterSchema, UserInSchema, UserSchema

blp = Blueprint("users", __name__, url_prefix="/api/users", description="Users")


def _active_or_404(user_id: int) -> User:
    user = service.get_active(user_id)
    if user is None:
        abort(404)
    check_row(user)
    return user


@blp.route("")
class Users(MethodView):
    @allow(SCHOOL, DEVICE)
    @blp.arguments(UserFilterSchema, location="query")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, envelope(UserSchema, many=True))
    def get(self, filters: dict[str, Any], page: dict[str, Any]) -> Any:
        """List users (not archived), optionally of one school."""
        query = scope_query(service.active_users().order_by(User.id), User.school_id)
        if "school_id" in filters:
            claim_school(filters["school_id"])
            query = query.where(User.school_id == filters["school_id"])
        return paginate(query, page)

    @allow(SCHOOL)
    @blp.arguments(UserInSchema)
    @blp.response(201, envelope(UserSchema))
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user in a school."""
        claim_school(data["school_id"])
        user = service.create_user(data)
        db.session.commit()
        return {"data": user}, 201, {"Location": url_for(".UserItem", user_id=user.id)}


@blp.route("/<int:user_id>")
class UserItem(MethodView):
    @allow(SCHOOL)
    @blp.response(200, envelope(UserSchema))
    def get(self, user_id: int) -> Any:
        """Show a user."""
        return {"data": _active_or_404(user_id)}

    @allow(SCHOOL)
    @blp.arguments(UserInSchema(partial=True))
    @blp.response(200, envelope(UserSchema))
    def patch(self, data: dict[str, Any], user_id: int) -> Any:
        """Update some of a user's fields."""
        return _update(user_id, data)

    @allow(SCHOOL)
    @blp.arguments(UserInSchema(partial=True))
    @blp.response(200, envelope(UserSchema))
    def put(self, data: dict[str, Any], user_id: int) -> Any:
        """Update a user (fields left out keep their values, as the seed did)."""
        return _update(user_id, data)

    @allow(SCHOOL)
    @blp.response(204)
    def delete(self, user_id: int) -> None:
        """Archive a user: no longer listed or counted; their attendance history is kept."""
        service.archive_user(_active_or_404(user_id))
        db.session.commit()


def _update(user_id: int, data: dict[str, Any]) -> Any:
    user = _active_or_404(user_id)
    if "school_id" in data:
        claim_school(data["school_id"])
    user = service.update_user(user, data)
    db.session.commit()
    return {"data": user}
