"""orphan visits: hourly aggregate of visits to no link

Revision ID: c4d1e7a9b2f0
Revises: ae78619f94d3
Create Date: 2026-12-02 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d1e7a9b2f0'
down_revision = 'ae78619f94d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('analytics_orphan_hourly',
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('referrer_host', sa.String(length=255), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('bot_visits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'type', 'host', 'referrer_host', name=op.f('pk_analytics_orphan_hourly'))
    )


def downgrade():
    op.drop_table('analytics_orphan_hourly')
