"""processed updates (redelivery dedupe) and invite attempts (guessing throttle)

Revision ID: 004
Revises: 003
Create Date: 2026-11-25 07:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '004'
down_revision: str | None = '003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('processed_updates',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('update_id')
    )
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_updates_processed_at'), ['processed_at'], unique=False)

    op.create_table('invite_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('telegram_user_id', sa.BigInteger(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('invite_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invite_attempts_telegram_user_id'), ['telegram_user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('invite_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invite_attempts_telegram_user_id'))
    op.drop_table('invite_attempts')
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_updates_processed_at'))
    op.drop_table('processed_updates')
