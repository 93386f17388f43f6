"""when the scheduler first ran on this database: report catch-up starts there

Revision ID: 007
Revises: 006
Create Date: 2026-12-08 08:00:00

At start the scheduler makes up the report runs it missed (`bot.scheduler.catch_up`); it must
not make up runs from before it ever ran here, or a new database begins with last week's digest.
A database whose job store (`apscheduler_jobs`) already exists has had a scheduler before this
table: when is not known, so it counts as scheduled since 1970 and catch-up stays as it was.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '007'
down_revision: str | None = '006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Any moment beyond the longest catch-up grace (12 hours) means "always" to the catch-up.
BEFORE_ANY_RUN = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    table = op.create_table('scheduler_start',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    if sa.inspect(op.get_bind()).has_table('apscheduler_jobs'):
        op.bulk_insert(table, [{'id': 1, 'started_at': BEFORE_ANY_RUN}])


def downgrade() -> None:
    op.drop_table('scheduler_start')
