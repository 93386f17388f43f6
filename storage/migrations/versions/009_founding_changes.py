"""what a change of a party organisation changed, on the officer's record of it

Revision ID: 009
Revises: 008
Create Date: 2026-12-09 09:00:00

A `change` founding (a 党支部 becoming a 党委, a new secretary, a joint branch split) keeps what
it changed, so a supervisor reviews it and its author corrects it knowing what it did. Records
of foundings have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '009'
down_revision: str | None = '008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('foundings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('foundings', schema=None) as batch_op:
        batch_op.drop_column('change')
