"""webhooks: since when a subscription takes events; deliveries sent again by hand

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 22:30:00

The fever sweep delivers the fevers a subscription missed, but none received before it
took events: before it was made, or while it was disabled. Existing subscriptions take
events since their creation. `by_hand` marks a delivery an admin sent again: it is tried
even when its subscription is disabled, and a success enables the subscription again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE webhooks SET enabled_at = created_at")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column(
            "enabled_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("by_hand", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("by_hand")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("enabled_at")
