"""indexes that keep the weekly digests bounded by the week

Revision ID: 005
Revises: 004
Create Date: 2026-11-25 09:00:00

Measured with the synthetic city (storage/city.py, bench/digests.py): without them the digests
read every person (new activists), every closed feedback item (resolved this week) and every
open item of the city for each officer, so ten years of history cost more than one.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '005'
down_revision: str | None = '004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index('ix_people_activist_on', ['activist_on'], unique=False)
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_closed_at', ['closed_at'], unique=False)
        batch_op.create_index('ix_feedback_officer_status', ['officer_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_officer_status')
        batch_op.drop_index('ix_feedback_closed_at')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index('ix_people_activist_on')
