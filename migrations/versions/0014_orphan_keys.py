"""attendance_keys: the keys whose event is gone are deleted

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 10:00:00

From now on a key is deleted with its event (services.attendances.delete_events), and a
retry no longer looks for keys whose event is gone: such a key would refuse the retry
of its event for good. This deletes the ones left by events deleted outside the service
(by hand, or with a month an operator detached). One statement; it reads both tables
once, and takes row locks only on the keys it deletes: check-ins go on meanwhile (an
event and its key are committed together, so none is ever seen without the other).
Nothing to undo on the way down: those keys named no event.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "DELETE FROM attendance_keys WHERE NOT EXISTS ("
        " SELECT 1 FROM attendances WHERE attendances.id = attendance_keys.attendance_id"
        ' AND attendances."timestamp" = attendance_keys."timestamp")'
    )


def downgrade():
    pass
