"""roll calls: the roll call, its expected list and its entries; the staff token role

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 18:30:00

One open roll call per school is a partial unique index (PostgreSQL and SQLite both have
them). Tokens may have the role `staff`: the role check of api_tokens is replaced. SQLite
cannot change a CHECK in place and batch mode does not reflect CHECKs, so there the table
is copied from its full definition (the same columns, keys and indexes as 0003 made).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('district', 'school', 'device')"
NEW_ROLES = "role IN ('district', 'school', 'device', 'staff')"
# The checks this revision leaves (tests/test_checks.py compares them with the models').
CHECKS = {"ck_api_tokens_role": NEW_ROLES}


def upgrade():
    op.create_table(
        "roll_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=32), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name=op.f("fk_roll_calls_school_id_schools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roll_calls")),
    )
    with op.batch_alter_table("roll_calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_roll_calls_school_id_started_at", ["school_id", "started_at"], unique=False
        )
        batch_op.create_index(
            "uq_roll_calls_open_school_id",
            ["school_id"],
            unique=True,
            postgresql_where=sa.text("closed_at IS NULL"),
            sqlite_where=sa.text("closed_at IS NULL"),
        )

    op.create_table(
        "roll_call_expected",
        sa.Column("roll_call_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["roll_call_id"],
            ["roll_calls.id"],
            name=op.f("fk_roll_call_expected_roll_call_id_roll_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_roll_call_expected_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("roll_call_id", "user_id", name=op.f("pk_roll_call_expected")),
    )

    op.create_table(
        "roll_call_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roll_call_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("client_event_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accounted", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["roll_call_id"],
            ["roll_calls.id"],
            name=op.f("fk_roll_call_entries_roll_call_id_roll_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_roll_call_entries_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roll_call_entries")),
        sa.UniqueConstraint(
            "roll_call_id",
            "client_event_id",
            name=op.f("uq_roll_call_entries_roll_call_id_client_event_id"),
        ),
    )
    _token_roles(NEW_ROLES)


def _api_tokens(roles):
    """api_tokens as 0003 made it, with this role check (SQLite's copy needs all of it)."""
    return sa.Table(
        "api_tokens",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role = 'district') = (school_id IS NULL)", name="ck_api_tokens_school_binding"
        ),
        sa.CheckConstraint(roles, name="ck_api_tokens_role"),
        sa.ForeignKeyConstraint(
            ["school_id"],
            ["schools.id"],
            name="fk_api_tokens_school_id_schools",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.Index("ix_api_tokens_school_id", "school_id"),
    )


def _token_roles(roles):
    """Replace the role check of api_tokens."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_api_tokens_role"), "api_tokens", type_="check")
        op.create_check_constraint(op.f("ck_api_tokens_role"), "api_tokens", roles)
        return
    with op.batch_alter_table("api_tokens", copy_from=_api_tokens(roles), recreate="always"):
        pass


def downgrade():
    op.execute("DELETE FROM api_tokens WHERE role = 'staff'")
    _token_roles(OLD_ROLES)
    op.drop_table("roll_call_entries")
    op.drop_table("roll_call_expected")
    with op.batch_alter_table("roll_calls", schema=None) as batch_op:
        batch_op.drop_index("uq_roll_calls_open_school_id")
        batch_op.drop_index("ix_roll_calls_school_id_started_at")
    op.drop_table("roll_calls")
