"""links.crawlable and links.forward_query: Shlink's per-link robots and query flags

Revision ID: e5b8d2f4a6c1
Revises: 5dc90a7dc01d
Create Date: 2026-12-02 13:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b8d2f4a6c1'
down_revision = '5dc90a7dc01d'
branch_labels = None
depends_on = None

COLUMNS = ('crawlable', 'forward_query')


# Plain ALTER TABLE, no batch: SQLite adds a column with a constant default, and drops one
# (3.35+), in place, where a batch would copy all of `links` into a new table (safe, since
# env.py turns foreign keys off for it, but a rewrite of the whole table for two columns).
def upgrade():
    # Existing links keep their behaviour: not crawlable, the query string not forwarded.
    for name in COLUMNS:
        op.add_column(
            'links', sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    for name in reversed(COLUMNS):
        op.drop_column('links', name)
