"""reports: the group a report is narrowed to, and whether it lists its users

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:00:00

Both are part of a report's identity (`&group=` and `&users=true` of the aggregate
endpoint): existing reports are of the whole school, without users.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("with_users", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("with_users")
        batch_op.drop_column("group")
