"""attendances: partitioned by month on PostgreSQL; idempotency keys in attendance_keys

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 22:00:00

On PostgreSQL `attendances` becomes a table partitioned by range of `timestamp`, one
partition per UTC month (`attendances_pYYYY_MM`) and a DEFAULT partition for any instant
no month covers. Every month that holds events gets its partition, and so do the current
month and the three after it; the workers create later months as time passes
(docs/operations.md#partitions). A unique constraint of a partitioned table must contain
the partition key, so `(school_id, idempotency_key)` cannot stay unique there: the keys
move to `attendance_keys`, one row per keyed event (on SQLite too, so that both run one
code path; SQLite's `attendances` otherwise stays the plain table it was). The primary
key becomes `(id, timestamp)`; the ids keep their values and their sequence.

The upgrade copies every row, under an exclusive lock on `attendances`: writers must be
stopped while it runs (about how long: docs/operations.md#upgrading-to-partitions).
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3
COLUMNS = (
    'id, user_id, school_id, type, "timestamp", temperature, image, received_at, idempotency_key'
)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _partition()
        return
    op.create_table(
        "attendance_keys",
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("attendance_id", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "idempotency_key", name=op.f("pk_attendance_keys")),
    )
    op.execute(
        "INSERT INTO attendance_keys (school_id, idempotency_key, attendance_id, timestamp)"
        " SELECT school_id, idempotency_key, id, timestamp FROM attendances"
        " WHERE idempotency_key IS NOT NULL"
    )
    with op.batch_alter_table("attendances", schema=None) as batch_op:
        batch_op.drop_constraint("uq_attendances_school_id_idempotency_key", type_="unique")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        _unpartition()
        return
    with op.batch_alter_table("attendances", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_attendances_school_id_idempotency_key", ["school_id", "idempotency_key"]
        )
    op.drop_table("attendance_keys")


def _month(value: dt.datetime | dt.date) -> dt.date:
    return dt.date(value.year, value.month, 1)


def _next(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _partition() -> None:
    """Rebuild `attendances` as a partitioned table with the same rows, ids and sequence."""
    bind = op.get_bind()
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    op.execute("LOCK TABLE attendances IN ACCESS EXCLUSIVE MODE")
    # The old table keeps its rows until they are copied; its indexes go first (faster,
    # and their names are the new table's).
    op.execute("ALTER TABLE attendances RENAME TO attendances_unpartitioned")
    op.execute(
        "ALTER TABLE attendances_unpartitioned"
        " DROP CONSTRAINT uq_attendances_school_id_idempotency_key,"
        " DROP CONSTRAINT pk_attendances"
    )
    op.execute("DROP INDEX ix_attendances_school_id_timestamp, ix_attendances_user_id_timestamp")
    op.execute("ALTER SEQUENCE attendances_id_seq OWNED BY NONE")
    # The same columns, defaults (the id's sequence) and checks, by name.
    op.execute(
        "CREATE TABLE attendances (LIKE attendances_unpartitioned INCLUDING DEFAULTS"
        ' INCLUDING CONSTRAINTS) PARTITION BY RANGE ("timestamp")'
    )
    op.execute("ALTER SEQUENCE attendances_id_seq OWNED BY attendances.id")

    # A month of its own for every month that holds events, however old, and for this
    # month and the next ones; anything else (a gap, a far date) in the default.
    held = bind.exec_driver_sql(
        "SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC')::date"
        " FROM attendances_unpartitioned"
    ).scalars()
    months = {_month(m) for m in held}
    month = _month(dt.datetime.now(dt.UTC))
    for _ in range(MONTHS_AHEAD + 1):
        months.add(month)
        month = _next(month)
    for month in sorted(months):
        op.execute(
            f"CREATE TABLE attendances_p{month:%Y_%m} PARTITION OF attendances"
            f" FOR VALUES FROM ('{month} 00:00:00+00') TO ('{_next(month)} 00:00:00+00')"
        )
    op.execute("CREATE TABLE attendances_default PARTITION OF attendances DEFAULT")

    op.execute(
        f"INSERT INTO attendances ({COLUMNS})"  # noqa: S608 - constant text
        f" SELECT {COLUMNS} FROM attendances_unpartitioned"
    )
    op.execute(
        "CREATE TABLE attendance_keys (school_id integer NOT NULL,"
        " idempotency_key varchar(200) NOT NULL, attendance_id bigint NOT NULL,"
        ' "timestamp" timestamptz NOT NULL)'
    )
    op.execute(
        'INSERT INTO attendance_keys (school_id, idempotency_key, attendance_id, "timestamp")'
        ' SELECT school_id, idempotency_key, id, "timestamp" FROM attendances_unpartitioned'
        " WHERE idempotency_key IS NOT NULL"
    )
    op.execute("DROP TABLE attendances_unpartitioned")

    # Keys, indexes and foreign keys once the rows are in: built in one pass each.
    op.execute(
        "ALTER TABLE attendance_keys ADD CONSTRAINT pk_attendance_keys"
        " PRIMARY KEY (school_id, idempotency_key)"
    )
    op.execute(
        'ALTER TABLE attendances ADD CONSTRAINT pk_attendances PRIMARY KEY (id, "timestamp")'
    )
    op.execute(
        'CREATE INDEX ix_attendances_school_id_timestamp ON attendances (school_id, "timestamp")'
    )
    op.execute(
        'CREATE INDEX ix_attendances_user_id_timestamp ON attendances (user_id, "timestamp")'
    )
    _foreign_keys()
    op.execute("ANALYZE attendances")
    op.execute("ANALYZE attendance_keys")


def _foreign_keys() -> None:
    op.execute(
        "ALTER TABLE attendances ADD CONSTRAINT fk_attendances_school_id_schools"
        " FOREIGN KEY (school_id) REFERENCES schools (id) ON DELETE RESTRICT,"
        " ADD CONSTRAINT fk_attendances_user_id_users"
        " FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT"
    )


def _unpartition() -> None:
    """Back to one plain table with the same rows and ids, keys unique in it again."""
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    op.execute("LOCK TABLE attendances IN ACCESS EXCLUSIVE MODE")
    op.execute("ALTER TABLE attendances RENAME TO attendances_partitioned")
    op.execute("ALTER TABLE attendances_partitioned DROP CONSTRAINT pk_attendances")
    op.execute("DROP INDEX ix_attendances_school_id_timestamp, ix_attendances_user_id_timestamp")
    op.execute("ALTER SEQUENCE attendances_id_seq OWNED BY NONE")
    op.execute(
        "CREATE TABLE attendances (LIKE attendances_partitioned INCLUDING DEFAULTS"
        " INCLUDING CONSTRAINTS)"
    )
    op.execute("ALTER SEQUENCE attendances_id_seq OWNED BY attendances.id")
    op.execute(
        f"INSERT INTO attendances ({COLUMNS})"  # noqa: S608 - constant text
        f" SELECT {COLUMNS} FROM attendances_partitioned"
    )
    op.execute("DROP TABLE attendances_partitioned")  # and its partitions
    op.execute("DROP TABLE attendance_keys")
    op.execute("ALTER TABLE attendances ADD CONSTRAINT pk_attendances PRIMARY KEY (id)")
    op.execute(
        "ALTER TABLE attendances ADD CONSTRAINT uq_attendances_school_id_idempotency_key"
        " UNIQUE (school_id, idempotency_key)"
    )
    op.execute(
        'CREATE INDEX ix_attendances_school_id_timestamp ON attendances (school_id, "timestamp")'
    )
    op.execute(
        'CREATE INDEX ix_attendances_user_id_timestamp ON attendances (user_id, "timestamp")'
    )
    _foreign_keys()
    op.execute("ANALYZE attendances")
