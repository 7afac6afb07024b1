"""school life: enrolments, marks, pupils' external ids and groups, school-life settings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00

Every existing user gets one enrolment at their school, open at both ends, so that the
figures of every date stay what they were. An archived user's enrolment ends the day
before the local date (in their school's timezone) they were archived on: they were
no longer counted from that day, and still are not.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day_end", sa.Time(), nullable=True))
        batch_op.add_column(sa.Column("late_after", sa.Time(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "chronic_ratio",
                sa.Numeric(precision=3, scale=2),
                server_default="0.1",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("chronic_min_days", sa.Integer(), server_default="10", nullable=False)
        )
    _school_checks()

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("group", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "uq_users_school_id_external_id", ["school_id", "external_id"], unique=True
        )

    enrolments = op.create_table(
        "enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("from", sa.Date(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_enrolments_school_id_schools"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_enrolments_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolments")),
    )
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrolments_school_id_from_until", ["school_id", "from", "until"], unique=False
        )
        batch_op.create_index("ix_enrolments_user_id_school_id", ["user_id", "school_id"])

    op.create_table(
        "marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("excused", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("NOT excused OR status = 'absent'", name=op.f("ck_marks_excused")),
        sa.CheckConstraint(
            "status IN ('present', 'absent', 'cleared')", name=op.f("ck_marks_status")
        ),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_marks_school_id_schools"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_marks_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marks")),
    )
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.create_index("ix_marks_school_id_date", ["school_id", "date"], unique=False)
        batch_op.create_index("ix_marks_user_id_date_id", ["user_id", "date", "id"], unique=False)

    _enrol_existing_users(enrolments)


def _school_checks():
    """The range checks of the new settings; SQLite cannot add a CHECK to a table in place."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_check_constraint(
        op.f("ck_schools_chronic_ratio"), "schools", "chronic_ratio > 0 AND chronic_ratio <= 1"
    )
    op.create_check_constraint(
        op.f("ck_schools_chronic_min_days"), "schools", "chronic_min_days >= 1"
    )


def _enrol_existing_users(enrolments):
    """One enrolment per user at their school: open, or ended before their archive date."""
    users = sa.table(
        "users",
        sa.column("id", sa.Integer()),
        sa.column("school_id", sa.Integer()),
        sa.column("deleted_at", sa.DateTime(timezone=True)),
    )
    schools = sa.table("schools", sa.column("id", sa.Integer()), sa.column("timezone", sa.String()))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(users.c.id, users.c.school_id, users.c.deleted_at, schools.c.timezone)
        .join(schools, schools.c.id == users.c.school_id)
        .order_by(users.c.id)
    ).all()
    now = dt.datetime.now(dt.UTC)
    values = [
        {
            "user_id": user_id,
            "school_id": school_id,
            "from": None,
            "until": _day_before(archived_at, timezone),
            "created_at": now,
        }
        for user_id, school_id, archived_at, timezone in rows
    ]
    for start in range(0, len(values), 1000):
        op.bulk_insert(enrolments, values[start : start + 1000])


def _day_before(archived_at, timezone):
    """The day before the local date of the archive instant (None: not archived)."""
    if archived_at is None:
        return None
    if archived_at.tzinfo is None:  # SQLite keeps no offset: the instant is stored in UTC
        archived_at = archived_at.replace(tzinfo=dt.UTC)
    return archived_at.astimezone(ZoneInfo(timezone)).date() - dt.timedelta(days=1)


def downgrade():
    op.drop_table("marks")
    op.drop_table("enrolments")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_school_id_external_id")
        batch_op.drop_column("group")
        batch_op.drop_column("external_id")
    if op.get_bind().dialect.name == "postgresql":
        for name in ("chronic_ratio", "chronic_min_days"):
            op.drop_constraint(op.f(f"ck_schools_{name}"), "schools", type_="check")
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.drop_column("chronic_min_days")
        batch_op.drop_column("chronic_ratio")
        batch_op.drop_column("late_after")
        batch_op.drop_column("day_end")
