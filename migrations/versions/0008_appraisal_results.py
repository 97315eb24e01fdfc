"""appraisal results per person and period (SS-7 annual grade, GL-5/CC-3 monthly score and rank)

``appraisal_result`` holds one row per person, scheme and period (``2025`` or ``2025-03``) with
the item scores, total, grade, ranks within town and county, the 末位淘汰 flag and the case it
came from. Tenant-scoped, with the row-level security policy of 0002.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLE = "appraisal_result"
POLICY = (
    "current_setting('countydesk.all_tenants', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('countydesk.tenant_id', true), '')::integer"
)


def upgrade():
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("total", sa.Double(), nullable=True),
        sa.Column("grade", sa.String(length=16), nullable=True),
        sa.Column("rank_in_town", sa.Integer(), nullable=True),
        sa.Column("rank_in_county", sa.Integer(), nullable=True),
        sa.Column("last_place", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("source_instance_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_instance_id"], ["workflow_instance.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "person_id", "scheme", "period", name="uq_appraisal_result_person_period"),
    )
    op.create_index(op.f("ix_appraisal_result_tenant_id"), TABLE, ["tenant_id"], unique=False)
    op.create_index("ix_appraisal_result_tenant_scheme_period", TABLE, ["tenant_id", "scheme", "period"],
                    unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {TABLE} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {TABLE}")
    op.drop_index("ix_appraisal_result_tenant_scheme_period", table_name=TABLE)
    op.drop_index(op.f("ix_appraisal_result_tenant_id"), table_name=TABLE)
    op.drop_table(TABLE)
