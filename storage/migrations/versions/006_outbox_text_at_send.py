"""reminder rows are composed when sent: outbox.text may be NULL

Revision ID: 006
Revises: 005
Create Date: 2026-11-25 12:10:00

The sweep queues a reminder as its key, kind, officer and chat only (one INSERT … SELECT per
kind); the sender asks the kind's renderer for the text and buttons when it sends the row. NULL
text marks such a row. Rows queued before keep their text and are sent as they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '006'
down_revision: str | None = '005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('text', existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE outbox SET text = '' WHERE text IS NULL")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('text', existing_type=sa.Text(), nullable=False)
