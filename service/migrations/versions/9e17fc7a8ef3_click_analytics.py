"""click analytics: hourly visits, daily dimensions and visitors, processed event ids

Revision ID: 9e17fc7a8ef3
Revises: 98e9ff5e2f9b
Create Date: 2026-11-25 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9e17fc7a8ef3'
down_revision = '98e9ff5e2f9b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('analytics_processed_events',
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('processed_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_analytics_processed_events'))
    )
    with op.batch_alter_table('analytics_processed_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_processed_events_processed_at'), ['processed_at'], unique=False)

    op.create_table('analytics_hourly',
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('bot_visits', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_analytics_hourly_link_id_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'hour', name=op.f('pk_analytics_hourly'))
    )
    op.create_table('analytics_daily_dimensions',
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('dimension', sa.String(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('bot_visits', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_analytics_daily_dimensions_link_id_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'dimension', 'day', 'value', name=op.f('pk_analytics_daily_dimensions'))
    )
    op.create_table('analytics_daily_visitors',
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('visitor', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_analytics_daily_visitors_link_id_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'day', 'visitor', name=op.f('pk_analytics_daily_visitors'))
    )


def downgrade():
    op.drop_table('analytics_daily_visitors')
    op.drop_table('analytics_daily_dimensions')
    op.drop_table('analytics_hourly')
    with op.batch_alter_table('analytics_processed_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_processed_events_processed_at'))

    op.drop_table('analytics_processed_events')
