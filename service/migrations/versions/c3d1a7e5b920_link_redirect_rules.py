"""links.rules: per-link redirect rules (JSON; NULL for none)

Revision ID: c3d1a7e5b920
Revises: c4d1e7a9b2f0
Create Date: 2026-12-02 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3d1a7e5b920'
down_revision = 'c4d1e7a9b2f0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rules', sa.JSON(none_as_null=True), nullable=True))


def downgrade():
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('rules')
