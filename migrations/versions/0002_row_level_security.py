"""PostgreSQL row-level security on tenant-scoped tables: the second wall behind the ORM filter.

The policy reads two settings the app sets per transaction: ``countydesk.tenant_id`` and
``countydesk.all_tenants`` (on only inside the audited cross-tenant read). FORCE makes the
policy apply to the table owner too; superusers still bypass RLS, so production connects as
an ordinary role.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("org_unit", "population_fact", "position", "person", "appointment")
POLICY = (
    "current_setting('countydesk.all_tenants', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('countydesk.tenant_id', true), '')::integer"
)


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
