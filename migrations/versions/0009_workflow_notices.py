"""workflow notices (督办) and daily-check bookkeeping

``workflow_notice`` holds an overdue case put before the next org level up (a role at the case's
town or at the county), open until someone acts on the case; one per case and visit of a state.
``workflow_daily_check`` records the last day each daily check (term expiry, …) ran per county,
so the repeating tick runs them once a day. Both are tenant-scoped with the row-level security
policy of 0002.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("workflow_notice", "workflow_daily_check")
POLICY = (
    "current_setting('countydesk.all_tenants', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('countydesk.tenant_id', true), '')::integer"
)


def upgrade():
    op.create_table(
        "workflow_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("target_org_id", sa.Integer(), nullable=False),
        sa.Column("target_role", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("step_seq", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["target_org_id"], ["org_unit.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["resolved_by"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "instance_id", "step_seq", "kind", name="uq_workflow_notice_visit"),
    )
    op.create_index(op.f("ix_workflow_notice_tenant_id"), "workflow_notice", ["tenant_id"], unique=False)
    op.create_index("ix_workflow_notice_tenant_open", "workflow_notice", ["tenant_id", "target_role", "resolved_at"],
                    unique=False)
    op.create_table(
        "workflow_daily_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("ran_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_workflow_daily_check_name"),
    )
    op.create_index(op.f("ix_workflow_daily_check_tenant_id"), "workflow_daily_check", ["tenant_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.drop_index(op.f("ix_workflow_daily_check_tenant_id"), table_name="workflow_daily_check")
    op.drop_table("workflow_daily_check")
    op.drop_index("ix_workflow_notice_tenant_open", table_name="workflow_notice")
    op.drop_index(op.f("ix_workflow_notice_tenant_id"), table_name="workflow_notice")
    op.drop_table("workflow_notice")
