"""Customer values record their last recompute apart from their rows.

The RFM recompute writes only the buyers whose figures or scores changed, so the rows'
computed_at no longer says when the organization's values were last recomputed:
customer_value_runs does (one row per organization), filled here from the rows as they are.

Revision ID: 0038_commerce_speed
Revises: 0037_sms_campaigns
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls, organization_fk

revision = "0038_commerce_speed"
down_revision = "0037_sms_campaigns"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "customer_value_runs",
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("buyers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", name="pk_customer_value_runs"),
        organization_fk("customer_value_runs"),
    )
    # Every organization's rows at once: the owner reads past the tenant policy meanwhile.
    op.execute("ALTER TABLE customer_values NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "INSERT INTO customer_value_runs (organization_id, computed_at, buyers) "
        "SELECT organization_id, max(computed_at), count(*) FROM customer_values "
        "GROUP BY organization_id"
    )
    op.execute("ALTER TABLE customer_values FORCE ROW LEVEL SECURITY")
    enable_tenant_rls("customer_value_runs")


def downgrade():
    disable_tenant_rls("customer_value_runs")
    op.drop_table("customer_value_runs")
