"""the department (会签单位) a user speaks for in N-of-M approvals

``ab_user.party`` names the department a user records opinions for (人社局, 劳动保障服务中心, …);
such a user may vote only for it. Null: the user may record any party's opinion (a county admin
entering the departments' paper opinions). Plain text matched against the parties of the tenant's
workflow YAML, which are names, not rows.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ab_user") as batch:
        batch.add_column(sa.Column("party", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("ab_user") as batch:
        batch.drop_column("party")
