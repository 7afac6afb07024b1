"""admins: session_version, so logout and password changes end every session

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 15:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("admins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("admins", schema=None) as batch_op:
        batch_op.drop_column("session_version")
