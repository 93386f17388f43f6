"""party organisations as records; the enterprise fields the ledgers and the statistics need

Revision ID: 008
Revises: 007
Create Date: 2026-12-08 09:00:00

The enterprise's status word `party_org` (none / joint_branch / branch / general_branch /
committee) mixed what an organisation is with how it was formed. Each enterprise that had one
gets a `party_organisations` record: its category and way of forming from the word
(joint_branch → 党支部, 联合组建; the others → themselves, 单独组建), named "<enterprise>党组织"
and flagged `name_inferred` since no name was known, with the founding date, secretary and
member count of the latest founding recorded for that enterprise, if any — else no founding
date (never the day of the migration). Its coverage starts on that date (or is open-ended).
Foundings take the organisation of their enterprise; their `method` becomes `formation`
(independent → single) and `org_type` becomes `category`.

The owner's political status, free text, gives `owner_is_member` where it says 党员.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '008'
down_revision: str | None = '007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The old status word → (category, formation).
FROM_STATUS = {
    "joint_branch": ("branch", "joint"),
    "branch": ("branch", "single"),
    "general_branch": ("general_branch", "single"),
    "committee": ("committee", "single"),
}
METHOD_TO_FORMATION = {"independent": "single", "joint": "joint"}


def _owner_is_member(status: str | None) -> bool | None:
    if not status or not status.strip():
        return None
    return "党员" in status and "非" not in status


def upgrade() -> None:
    op.create_table('party_organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_inferred', sa.Boolean(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('formation', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('parent_name', sa.String(length=128), nullable=True),
    sa.Column('region', sa.String(length=255), nullable=False),
    sa.Column('founded_on', sa.Date(), nullable=True),
    sa.Column('dissolved_on', sa.Date(), nullable=True),
    sa.Column('secretary', sa.String(length=64), nullable=True),
    sa.Column('secretary_source', sa.String(length=16), nullable=True),
    sa.Column('members', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['party_organisations.id'], name='fk_party_organisations_parent_id'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('party_organisations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_party_organisations_founded_on'), ['founded_on'], unique=False)
        batch_op.create_index('ix_party_organisations_region', ['region'], unique=False)

    op.create_table('party_org_coverage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], ),
    sa.ForeignKeyConstraint(['organisation_id'], ['party_organisations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('party_org_coverage', schema=None) as batch_op:
        batch_op.create_index('ix_party_org_coverage_enterprise', ['enterprise_id', 'ended_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_party_org_coverage_organisation_id'), ['organisation_id'], unique=False)

    with op.batch_alter_table('enterprises', schema=None) as batch_op:
        batch_op.add_column(sa.Column('members_here', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('members_elsewhere', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('party_org_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('unformed_reason', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('operating_status', sa.String(length=16), nullable=False,
                                      server_default='operating'))
        batch_op.add_column(sa.Column('above_scale', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('revenue', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('location_kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('location_name', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('owner_is_member', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('owner_is_secretary', sa.Boolean(), nullable=True))

    with op.batch_alter_table('foundings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('action', sa.String(length=16), nullable=False, server_default='found'))
        batch_op.add_column(sa.Column('enterprise_ids', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('name', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('secretary_source', sa.String(length=16), nullable=True))
        batch_op.alter_column('org_type', new_column_name='category', existing_type=sa.String(length=16),
                              existing_nullable=False)
        batch_op.alter_column('method', new_column_name='formation', existing_type=sa.String(length=16),
                              existing_nullable=False)
        batch_op.create_index(batch_op.f('ix_foundings_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_foreign_key('fk_foundings_organisation_id', 'party_organisations', ['organisation_id'], ['id'])

    _carry_over(op.get_bind())

    with op.batch_alter_table('foundings', schema=None) as batch_op:
        batch_op.alter_column('enterprise_ids', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('action', server_default=None, existing_type=sa.String(length=16),
                              existing_nullable=False)
    with op.batch_alter_table('enterprises', schema=None) as batch_op:
        batch_op.alter_column('operating_status', server_default=None, existing_type=sa.String(length=16),
                              existing_nullable=False)
        batch_op.create_index(batch_op.f('ix_enterprises_party_org_id'), ['party_org_id'], unique=False)
        batch_op.create_foreign_key('fk_enterprises_party_org_id', 'party_organisations', ['party_org_id'], ['id'])
        batch_op.drop_column('party_org')


def _carry_over(connection: Any) -> None:
    enterprises = sa.table('enterprises', sa.column('id'), sa.column('name'), sa.column('region'),
                           sa.column('party_org'), sa.column('party_org_id'), sa.column('owner_political_status'),
                           sa.column('owner_is_member'))
    foundings = sa.table('foundings', sa.column('id'), sa.column('enterprise_id'), sa.column('founded_on'),
                         sa.column('category'), sa.column('formation'), sa.column('secretary'),
                         sa.column('members'), sa.column('organisation_id'), sa.column('enterprise_ids', sa.JSON()),
                         sa.column('name'))
    organisations = sa.table('party_organisations', sa.column('id'), sa.column('name'), sa.column('name_inferred'),
                             sa.column('category'), sa.column('formation'), sa.column('region'),
                             sa.column('founded_on'), sa.column('secretary'), sa.column('members'),
                             sa.column('created_at'), sa.column('updated_at'))
    coverage = sa.table('party_org_coverage', sa.column('enterprise_id'), sa.column('organisation_id'),
                        sa.column('started_on'))
    # The latest founding of each enterprise: what its status was set from.
    latest: dict[int, Any] = {}
    for row in connection.execute(sa.select(foundings.c.enterprise_id, foundings.c.founded_on, foundings.c.secretary,
                                            foundings.c.members).order_by(foundings.c.founded_on, foundings.c.id)):
        latest[row.enterprise_id] = row
    now = sa.func.current_timestamp()
    org_of: dict[int, tuple[int, str]] = {}
    for firm in connection.execute(sa.select(enterprises.c.id, enterprises.c.name, enterprises.c.region,
                                             enterprises.c.party_org).order_by(enterprises.c.id)):
        if firm.party_org not in FROM_STATUS:
            continue
        category, formation = FROM_STATUS[firm.party_org]
        founding = latest.get(firm.id)
        name = f"{firm.name}党组织"
        org_id = connection.execute(sa.insert(organisations).values(
            name=name, name_inferred=True, category=category, formation=formation, region=firm.region,
            founded_on=founding.founded_on if founding else None, secretary=founding.secretary if founding else None,
            members=founding.members if founding else None, created_at=now, updated_at=now,
        ).returning(organisations.c.id)).scalar_one()
        connection.execute(sa.insert(coverage).values(enterprise_id=firm.id, organisation_id=org_id,
                                                      started_on=founding.founded_on if founding else None))
        connection.execute(sa.update(enterprises).where(enterprises.c.id == firm.id).values(party_org_id=org_id))
        org_of[firm.id] = (org_id, name)
    for row in connection.execute(sa.select(foundings.c.id, foundings.c.enterprise_id, foundings.c.category,
                                            foundings.c.formation)).all():
        category, formation = row.category, METHOD_TO_FORMATION.get(row.formation, row.formation)
        if category == "joint_branch":
            category, formation = "branch", "joint"
        org_id, name = org_of.get(row.enterprise_id, (None, None))
        connection.execute(sa.update(foundings).where(foundings.c.id == row.id).values(
            category=category, formation=formation, organisation_id=org_id, name=name,
            enterprise_ids=[row.enterprise_id]))
    for firm in connection.execute(sa.select(enterprises.c.id, enterprises.c.owner_political_status)).all():
        member = _owner_is_member(firm.owner_political_status)
        if member is not None:
            connection.execute(sa.update(enterprises).where(enterprises.c.id == firm.id).values(owner_is_member=member))


def downgrade() -> None:
    with op.batch_alter_table('enterprises', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party_org', sa.String(length=16), nullable=False, server_default='none'))
    connection = op.get_bind()
    enterprises = sa.table('enterprises', sa.column('id'), sa.column('party_org'), sa.column('party_org_id'))
    organisations = sa.table('party_organisations', sa.column('id'), sa.column('category'), sa.column('formation'))
    foundings = sa.table('foundings', sa.column('id'), sa.column('category'), sa.column('formation'))
    rows = connection.execute(sa.select(enterprises.c.id, organisations.c.category, organisations.c.formation)
                              .join(organisations, organisations.c.id == enterprises.c.party_org_id)).all()
    for firm_id, category, formation in rows:
        status = "joint_branch" if formation == "joint" else category
        connection.execute(sa.update(enterprises).where(enterprises.c.id == firm_id).values(party_org=status))
    for row in connection.execute(sa.select(foundings.c.id, foundings.c.category, foundings.c.formation)).all():
        connection.execute(sa.update(foundings).where(foundings.c.id == row.id).values(
            category="joint_branch" if row.formation == "joint" and row.category == "branch" else row.category,
            formation="joint" if row.formation == "joint" else "independent"))
    with op.batch_alter_table('enterprises', schema=None) as batch_op:
        batch_op.alter_column('party_org', server_default=None, existing_type=sa.String(length=16),
                              existing_nullable=False)
        batch_op.drop_constraint('fk_enterprises_party_org_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_enterprises_party_org_id'))
        for column in ('owner_is_secretary', 'owner_is_member', 'location_name', 'location_kind', 'revenue',
                       'above_scale', 'operating_status', 'unformed_reason', 'party_org_id', 'members_elsewhere',
                       'members_here'):
            batch_op.drop_column(column)
    with op.batch_alter_table('foundings', schema=None) as batch_op:
        batch_op.drop_constraint('fk_foundings_organisation_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_foundings_organisation_id'))
        batch_op.alter_column('category', new_column_name='org_type', existing_type=sa.String(length=16),
                              existing_nullable=False)
        batch_op.alter_column('formation', new_column_name='method', existing_type=sa.String(length=16),
                              existing_nullable=False)
        for column in ('secretary_source', 'name', 'enterprise_ids', 'action', 'organisation_id'):
            batch_op.drop_column(column)
    with op.batch_alter_table('party_org_coverage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_party_org_coverage_organisation_id'))
        batch_op.drop_index('ix_party_org_coverage_enterprise')
    op.drop_table('party_org_coverage')
    with op.batch_alter_table('party_organisations', schema=None) as batch_op:
        batch_op.drop_index('ix_party_organisations_region')
        batch_op.drop_index(batch_op.f('ix_party_organisations_founded_on'))
    op.drop_table('party_organisations')
