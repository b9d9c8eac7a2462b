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


def upgrade():
    # Existing links keep their behaviour: not crawlable, the query string not forwarded.
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('crawlable', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column('forward_query', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('forward_query')
        batch_op.drop_column('crawlable')
