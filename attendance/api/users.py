"""/api/users: the Phoenix service's user routes."""

from __future__ import annotations

from typing import Any

from flask import abort, url_for
from flask.views import MethodView
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import User
from ..security.principals import allow, check_row, claim_school, scope_query
from ..security.roles import DEVICE, SCHOOL
from ..services import users as service
from .common import Blueprint, PageArgs, envelope, paginate
from .schemas import UserDetailSchema, UserFilterSchema, UserInSchema, UserSchema

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
        """List pupils enrolled today or later (`archived=true`: every user), by school, group."""
        query = scope_query(
            service.listed_users(archived=filters["archived"])
            .options(selectinload(User.enrolments), selectinload(User.school))
            .order_by(User.id),
            User.school_id,
        )
        if "school_id" in filters:
            claim_school(filters["school_id"])
            query = query.where(User.school_id == filters["school_id"])
        if "group" in filters:
            query = query.where(User.group == filters["group"])
        return paginate(query, page)

    @allow(SCHOOL)
    @blp.arguments(UserInSchema)
    @blp.response(201, envelope(UserDetailSchema))
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user in a school, enrolled from `enrolled_from` until `enrolled_until`."""
        claim_school(data["school_id"])
        user = service.create_user(data)
        db.session.commit()
        return {"data": user}, 201, {"Location": url_for(".UserItem", user_id=user.id)}


@blp.route("/<int:user_id>")
class UserItem(MethodView):
    @allow(SCHOOL)
    @blp.response(200, envelope(UserDetailSchema))
    def get(self, user_id: int) -> Any:
        """Show a user."""
        return {"data": _active_or_404(user_id)}

    @allow(SCHOOL)
    @blp.arguments(UserInSchema(partial=True))
    @blp.response(200, envelope(UserDetailSchema))
    def patch(self, data: dict[str, Any], user_id: int) -> Any:
        """Update some of a user's fields."""
        return _update(user_id, data)

    @allow(SCHOOL)
    @blp.arguments(UserInSchema(partial=True))
    @blp.response(200, envelope(UserDetailSchema))
    def put(self, data: dict[str, Any], user_id: int) -> Any:
        """Update a user (fields left out keep their values, as the seed did)."""
        return _update(user_id, data)

    @allow(SCHOOL)
    @blp.response(204)
    def delete(self, user_id: int) -> None:
        """Archive a user: their enrolments end yesterday; their history is kept and counted."""
        service.archive_user(_active_or_404(user_id))
        db.session.commit()


def _update(user_id: int, data: dict[str, Any]) -> Any:
    user = _active_or_404(user_id)
    if "school_id" in data:
        claim_school(data["school_id"])
    user = service.update_user(user, data)
    db.session.commit()
    return {"data": user}
