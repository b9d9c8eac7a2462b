"""analytics: hours and days on SQLite in the text the ORM writes, colliding rows merged

Revision ID: 5dc90a7dc01d
Revises: d7a2c9e4f1b3
Create Date: 2026-12-02 06:05:00.000000

A data migration, SQLite only. The worker used to store ``analytics_hourly.hour`` as
``2026-05-28 20:00:00+00:00`` where the ORM writes (and range queries bind)
``2026-05-28 20:00:00.000000``: on SQLite these are text, so the rows of a range's first hour
were not found. Each row of the worker's tables is rewritten to the ORM's text; a row whose
key then equals another's (the same hour written both ways) is merged into it, its visits
and bot visits added. Days (``YYYY-MM-DD`` either way) are normalised alike for
completeness. PostgreSQL stores real timestamps and dates: nothing to do there.

The downgrade keeps the rows as they are: the previous code reads and writes this text too.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5dc90a7dc01d'
down_revision = 'd7a2c9e4f1b3'
branch_labels = None
depends_on = None

#: SQLite's text of each kind of column, as SQLAlchemy's DATETIME and DATE write it; an hour
#: column holds whole UTC hours (``strftime`` converts an offset such as ``+00:00`` to UTC).
CANONICAL = {
    "hour": "strftime('%Y-%m-%d %H:00:00.000000', {column})",
    "day": "date({column})",
}
#: (table, primary key columns, the time column, its kind, whether it counts visits).
TABLES = (
    ("analytics_hourly", ("link_id", "hour"), "hour", "hour", True),
    ("analytics_daily_dimensions", ("link_id", "dimension", "day", "value"), "day", "day", True),
    ("analytics_daily_visitors", ("link_id", "day", "visitor"), "day", "day", False),
    ("analytics_orphan_hourly", ("hour", "type", "host", "referrer_host"), "hour", "hour", True),
)


def _normalise(bind, table, keys, column, kind, counts):
    """Insert each stray row's canonical twin (adding to one that exists), then drop it.

    Sent to the driver as is: the SQL is made of our constants, no value is bound."""
    canonical = CANONICAL[kind].format(column=column)
    stray = f"{column} != {canonical}"  # NULL (text SQLite cannot read) stays as it is
    selected = ", ".join(canonical if key == column else key for key in keys)
    conflict = ", ".join(keys)
    if counts:
        bind.exec_driver_sql(
            f"INSERT INTO {table} ({conflict}, visits, bot_visits) "
            f"SELECT {selected}, SUM(visits), SUM(bot_visits) FROM {table} WHERE {stray} "
            f"GROUP BY {selected} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET "
            f"visits = {table}.visits + excluded.visits, "
            f"bot_visits = {table}.bot_visits + excluded.bot_visits"
        )
    else:
        bind.exec_driver_sql(
            f"INSERT INTO {table} ({conflict}) SELECT DISTINCT {selected} FROM {table} "
            f"WHERE {stray} ON CONFLICT ({conflict}) DO NOTHING"
        )
    bind.exec_driver_sql(f"DELETE FROM {table} WHERE {stray}")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    existing = set(sa.inspect(bind).get_table_names())
    for table, keys, column, kind, counts in TABLES:
        if table in existing:
            _normalise(bind, table, keys, column, kind, counts)


def downgrade():
    pass
