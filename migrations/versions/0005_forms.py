"""low-code forms: versioned form definitions, form records, custom-field columns

``form_definition`` keeps every version of a county's form (a change is a new row, never an
overwrite); ``form_record`` holds the entered data as JSON beside the columns lists filter and key
on. Both are tenant-scoped and get the row-level security policy of 0002. ``extra`` on org_unit,
person and appointment holds a county's custom fields.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("form_definition", "form_record")
EXTENDED = ("org_unit", "person", "appointment")
POLICY = (
    "current_setting('countydesk.all_tenants', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('countydesk.tenant_id', true), '')::integer"
)


def upgrade():
    op.create_table(
        "form_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("periodicity", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "code", "version", name="uq_form_definition_version"),
    )
    op.create_index(op.f("ix_form_definition_tenant_id"), "form_definition", ["tenant_id"], unique=False)
    op.create_table(
        "form_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_code", sa.String(length=32), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("natural_key", sa.String(length=255), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("row_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["updated_by"], ["ab_user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "form_code", "natural_key", name="uq_form_record_natural_key"),
    )
    op.create_index(op.f("ix_form_record_tenant_id"), "form_record", ["tenant_id"], unique=False)
    op.create_index("ix_form_record_tenant_form_id", "form_record", ["tenant_id", "form_code", "id"], unique=False)
    op.create_index("ix_form_record_tenant_form_period_org", "form_record",
                    ["tenant_id", "form_code", "period", "org_unit_id"], unique=False)
    for table in EXTENDED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("extra", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    for table in EXTENDED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("extra")
    op.drop_index("ix_form_record_tenant_form_period_org", table_name="form_record")
    op.drop_index("ix_form_record_tenant_form_id", table_name="form_record")
    op.drop_index(op.f("ix_form_record_tenant_id"), table_name="form_record")
    op.drop_table("form_record")
    op.drop_index(op.f("ix_form_definition_tenant_id"), table_name="form_definition")
    op.drop_table("form_definition")
