"""migration jobs: migrations from peer shorteners started from the dashboard

Revision ID: c2a351d580e1
Revises: c3d1a7e5b920
Create Date: 2026-12-02 05:53:41.540465

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c2a351d580e1'
down_revision = 'c3d1a7e5b920'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('migration_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('peer', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('every_user', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('conflicts', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'stopped')", name=op.f('ck_migration_jobs_status')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_migration_jobs_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migration_jobs'))
    )
    with op.batch_alter_table('migration_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_migration_jobs_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index('ix_migration_jobs_status_lease', ['status', 'lease_until'], unique=False)



def downgrade():
    with op.batch_alter_table('migration_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_migration_jobs_status_lease')
        batch_op.drop_index(batch_op.f('ix_migration_jobs_owner_id'))

    op.drop_table('migration_jobs')
