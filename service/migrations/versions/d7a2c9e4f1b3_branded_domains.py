"""domains: branded hosts with fallback redirects; links.domain_id, slugs unique per domain

Revision ID: d7a2c9e4f1b3
Revises: c2a351d580e1
Create Date: 2026-12-02 06:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7a2c9e4f1b3'
down_revision = 'c2a351d580e1'
branch_labels = None
depends_on = None

_DEFAULT_DOMAIN = sa.text('domain_id IS NULL')


def upgrade():
    op.create_table('domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=261), nullable=False),
    sa.Column('root_redirect', sa.Text(), nullable=True),
    sa.Column('not_found_redirect', sa.Text(), nullable=True),
    sa.Column('expired_redirect', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domains')),
    sa.UniqueConstraint('host', name=op.f('uq_domains_host'))
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('domain_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint('uq_links_slug', type_='unique')
        batch_op.create_unique_constraint('uq_links_domain_slug', ['domain_id', 'slug'])
        batch_op.create_foreign_key(
            batch_op.f('fk_links_domain_id_domains'), 'domains', ['domain_id'], ['id']
        )
        batch_op.create_index(
            'uq_links_default_slug',
            ['slug'],
            unique=True,
            sqlite_where=_DEFAULT_DOMAIN,
            postgresql_where=_DEFAULT_DOMAIN,
        )


def downgrade():
    # Links of added domains cannot keep their slugs once a slug is unique again.
    op.execute('DELETE FROM links WHERE domain_id IS NOT NULL')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('uq_links_default_slug')
        batch_op.drop_constraint(batch_op.f('fk_links_domain_id_domains'), type_='foreignkey')
        batch_op.drop_constraint('uq_links_domain_slug', type_='unique')
        batch_op.create_unique_constraint('uq_links_slug', ['slug'])
        batch_op.drop_column('domain_id')
    op.drop_table('domains')
