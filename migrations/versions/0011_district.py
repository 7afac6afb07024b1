"""reports: a district report is of no one school (school_id null)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 18:30:00

`GET /api/attendances/aggregate/district` stores its reports beside the schools' ones, in
the same pipeline (chunks, leases, the reaper); its rows name no school.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.alter_column("school_id", existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM reports WHERE school_id IS NULL")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.alter_column("school_id", existing_type=sa.Integer(), nullable=False)
