"""Customer values record their last recompute apart from their rows; the points ledger checks
its organization and member with one foreign key.

The RFM recompute writes only the buyers whose figures or scores changed, so the rows'
computed_at no longer says when the organization's values were last recomputed:
customer_value_runs does (one row per organization), filled here from the rows as they are.
customer_values loses its index on organization_id alone: the two others lead with it, and a
first recompute adds a million entries to each.

The expiry job writes an entry per member at once, and each entry's foreign keys to its
organization and its member were two lookups: one composite key (organization_id, member_id)
to the member (unique on loyalty_members, replacing its index on organization_id alone) makes
it one, and keeps an entry in its member's organization. The member's own key to the
organization stands for the entry's. The ledger's index on organization_id alone goes too
(ix_loyalty_ledger_org_member leads with it).

Revision ID: 0041_commerce_speed
Revises: 0040_survey_distribution
"""

import sqlalchemy as sa
from alembic import op
from helpers import disable_tenant_rls, enable_tenant_rls, organization_fk

revision = "0041_commerce_speed"
down_revision = "0040_survey_distribution"
branch_labels = None
depends_on = None


LEDGER_MEMBER_FK = "fk_loyalty_ledger_org_member_loyalty_members"


def upgrade():
    op.create_index(
        "uq_loyalty_members_org_id", "loyalty_members", ["organization_id", "id"], unique=True
    )
    op.drop_index("ix_loyalty_members_organization_id", "loyalty_members")
    op.create_foreign_key(
        LEDGER_MEMBER_FK,
        "loyalty_ledger",
        "loyalty_members",
        ["organization_id", "member_id"],
        ["organization_id", "id"],
        ondelete="CASCADE",
    )
    op.drop_constraint("fk_loyalty_ledger_member_id_loyalty_members", "loyalty_ledger")
    op.drop_constraint("fk_loyalty_ledger_organization_id_organizations", "loyalty_ledger")
    op.drop_index("ix_loyalty_ledger_organization_id", "loyalty_ledger")
    op.drop_index("ix_customer_values_organization_id", "customer_values")

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
    op.create_index("ix_customer_values_organization_id", "customer_values", ["organization_id"])
    op.create_index("ix_loyalty_ledger_organization_id", "loyalty_ledger", ["organization_id"])
    op.create_foreign_key(
        "fk_loyalty_ledger_organization_id_organizations",
        "loyalty_ledger",
        "organizations",
        ["organization_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_loyalty_ledger_member_id_loyalty_members",
        "loyalty_ledger",
        "loyalty_members",
        ["member_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint(LEDGER_MEMBER_FK, "loyalty_ledger")
    op.create_index("ix_loyalty_members_organization_id", "loyalty_members", ["organization_id"])
    op.drop_index("uq_loyalty_members_org_id", "loyalty_members")
