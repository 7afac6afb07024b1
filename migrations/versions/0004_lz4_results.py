"""report results: lz4 compression on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 04:10:00

Every report chunk and cached day keeps a date's per-user results (tens of kilobytes of
JSON), and PostgreSQL compresses values that large. lz4 does it about three times faster
than the default pglz, which is most of what writing a chunk costs the database. Values
already stored keep their compression; SQLite, and a PostgreSQL built without lz4, are
left as they are.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (("report_chunks", "results"), ("day_summaries", "results"), ("reports", "result"))


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    values = bind.exec_driver_sql(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    ).scalar()
    return bool(values) and "lz4" in values


def _set(method: str) -> None:
    if not _lz4_available():
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade():
    _set("lz4")


def downgrade():
    _set("pglz")
