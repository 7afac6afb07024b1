"""report results: rewrite day results of the first release's row format into columns

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 16:30:00

The first release stored a date's per-user results (in report chunks and in the day
cache) as one array per user: [user_id, total_us, present, checked_in_now,
orphan_checkouts, unclosed, first_checkin_us]. Later releases store them in columns (one
array per field, with "format": 2) and read both; from this revision the code reads only
columns, so rows of the old format are rewritten here. No schema change; the downgrade
leaves the rows in columns, which every earlier release reads too.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The format as of this revision (attendance/services/reports/encoding.py then).
FORMAT = 2
COLUMNS = (
    "user_id",
    "total_us",
    "present",
    "checked_in_now",
    "orphan_checkouts",
    "unclosed",
    "first_checkin_us",
)
FLAGS = frozenset({"present", "checked_in_now"})
BATCH = 500

TABLES = (
    sa.table(
        "report_chunks",
        sa.column("report_id", sa.String),
        sa.column("day", sa.Date),
        sa.column("results", sa.JSON),
    ),
    sa.table(
        "day_summaries",
        sa.column("school_id", sa.Integer),
        sa.column("day", sa.Date),
        sa.column("results", sa.JSON),
    ),
)


def in_columns(rows):
    """A date's results of the row format, in columns."""
    doc = {"format": FORMAT}
    for i, name in enumerate(COLUMNS):
        values = [row[i] for row in rows]
        doc[name] = [int(v) for v in values] if name in FLAGS else values
    return doc


def upgrade():
    bind = op.get_bind()
    json_type = "json_typeof" if bind.dialect.name == "postgresql" else "json_type"
    for table in TABLES:
        keys = [c for c in table.c if c.name != "results"]
        old_format = getattr(sa.func, json_type)(table.c.results) == "array"
        while True:
            found = bind.execute(
                sa.select(*keys, table.c.results).where(old_format).limit(BATCH)
            ).all()
            for *key, rows in found:
                match = sa.and_(*(c == v for c, v in zip(keys, key, strict=True)))
                bind.execute(table.update().where(match).values(results=in_columns(rows)))
            if len(found) < BATCH:
                break


def downgrade():
    pass
