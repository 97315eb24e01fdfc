"""audit trail and row versions

``audit_event`` is the append-only history of every create/update/delete of tenant data (who,
when, before, after); tenant-scoped, so it gets the row-level security policy of 0002.
``row_version`` on org_unit, person and appointment is the optimistic-locking counter: an edit
made from a stale copy of the row is refused instead of silently overwriting a colleague's edit.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VERSIONED = ("org_unit", "person", "appointment")
POLICY = (
    "current_setting('countydesk.all_tenants', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('countydesk.tenant_id', true), '')::integer"
)


def upgrade():
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_audit_event_tenant_id"), "audit_event", ["tenant_id"], unique=False)
    op.create_index("ix_audit_event_tenant_entity_row", "audit_event", ["tenant_id", "entity", "row_id", "id"],
                    unique=False)
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("row_version", sa.Integer(), server_default="1", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE audit_event FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON audit_event USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS tenant_isolation ON audit_event")
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("row_version")
    op.drop_index("ix_audit_event_tenant_entity_row", table_name="audit_event")
    op.drop_index(op.f("ix_audit_event_tenant_id"), table_name="audit_event")
    op.drop_table("audit_event")
