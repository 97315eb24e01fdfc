"""staffing quotas: versioned position rules and computed quotas per org unit and period

``position_rule`` keeps every version of a position's quota/eligibility formula with the date it
applies from; ``staffing_quota`` holds the computed quota, staffed, vacant and over counts per org
unit, position and period with the rule version and inputs used (derived rows: no foreign keys,
one unique key leading with tenant_id). Both are tenant-scoped, so on PostgreSQL they get the same
row-level security policy as the tables of 0002.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("position_rule", "staffing_quota")
POLICY = (
    "current_setting('countydesk.all_tenants', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('countydesk.tenant_id', true), '')::integer"
)


def upgrade():
    op.create_table(
        "position_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("formula", sa.Text(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["position_id"], ["position.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "position_id", "kind", "version", name="uq_position_rule_version"),
    )
    op.create_index(op.f("ix_position_rule_tenant_id"), "position_rule", ["tenant_id"], unique=False)
    op.create_index("ix_position_rule_tenant_position", "position_rule",
                    ["tenant_id", "position_id", "kind", "effective_from"], unique=False)
    # Derived rows rebuilt per (tenant, period): no foreign keys and one unique key only (see the model).
    op.create_table(
        "staffing_quota",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("position_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("quota", sa.Double(), nullable=True),
        sa.Column("staffed", sa.Integer(), nullable=False),
        sa.Column("vacant", sa.Double(), nullable=True),
        sa.Column("over", sa.Double(), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("computed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "period", "position_id", "org_unit_id", name="uq_staffing_quota_period_unit"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.drop_table("staffing_quota")
    op.drop_index("ix_position_rule_tenant_position", table_name="position_rule")
    op.drop_index(op.f("ix_position_rule_tenant_id"), table_name="position_rule")
    op.drop_table("position_rule")
