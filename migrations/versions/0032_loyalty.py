"""Loyalty: programs with earn rules and tiers, members, the points ledger and its lots, rewards,
redemptions and coupons.

The ledger is append-only for the app: its role may insert entries but not change or delete
them (the owner's cascades still clean up a deleted organization or customer). A statement
trigger adds each statement's entries to their members' balance and lifetime points, so a
set-based insert (the expiry job's) costs one update per member; the member's CHECK refuses
a balance below zero, whatever wrote the entry and however many wrote at once.

Revision ID: 0032_loyalty
Revises: 0031_commerce
"""

import sqlalchemy as sa
from alembic import op
from helpers import (
    app_role,
    create_definer_function,
    disable_tenant_rls,
    enable_tenant_rls,
    foreign_key,
    organization_fk,
    timestamps,
)
from sqlalchemy.dialects import postgresql

revision = "0032_loyalty"
down_revision = "0031_commerce"
branch_labels = None
depends_on = None

TABLES = (
    "loyalty_programs",
    "loyalty_tiers",
    "loyalty_category_rules",
    "loyalty_members",
    "loyalty_ledger",
    "loyalty_lots",
    "loyalty_tier_changes",
    "loyalty_rewards",
    "loyalty_redemptions",
    "loyalty_coupons",
)

# The periodic run walks every organization with an active program, before any tenant is set.
LOYALTY_ORGANIZATIONS = "loyalty_organizations()"

LEDGER_FUNCTION = """
CREATE FUNCTION loyalty_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE loyalty_members AS m SET
        points_balance = m.points_balance + d.points,
        lifetime_points = m.lifetime_points + d.earned
    FROM (
        SELECT member_id, sum(points) AS points,
               sum(CASE WHEN kind IN ('earn', 'reverse') OR (kind = 'adjust' AND points > 0)
                        THEN points ELSE 0 END) AS earned
        FROM new_rows GROUP BY member_id
    ) AS d
    WHERE m.id = d.member_id;
    RETURN NULL;
END $$
"""


def created_at(name: str = "created_at"):
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade():
    op.create_table(
        "loyalty_programs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("points_per_unit", sa.Numeric(10, 4), nullable=False),
        sa.Column("point_expiry_days", sa.Integer(), nullable=False),
        sa.Column("birthday_multiplier", sa.Numeric(4, 2), nullable=False),
        sa.Column("first_order_bonus", sa.Integer(), nullable=False),
        sa.Column("referral_points", sa.Integer(), nullable=False),
        sa.Column("survey_points", sa.Integer(), nullable=False),
        sa.Column("tier_basis", sa.String(10), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_programs"),
        organization_fk("loyalty_programs"),
        sa.CheckConstraint(
            "points_per_unit >= 0", name=op.f("ck_loyalty_programs_points_per_unit_not_negative")
        ),
        sa.CheckConstraint(
            "point_expiry_days >= 0", name=op.f("ck_loyalty_programs_expiry_not_negative")
        ),
        sa.CheckConstraint(
            "birthday_multiplier >= 1",
            name=op.f("ck_loyalty_programs_birthday_multiplier_at_least_one"),
        ),
        sa.CheckConstraint(
            "first_order_bonus >= 0 AND referral_points >= 0 AND survey_points >= 0",
            name=op.f("ck_loyalty_programs_bonuses_not_negative"),
        ),
        sa.CheckConstraint(
            "tier_basis IN ('points', 'spend')", name=op.f("ck_loyalty_programs_tier_basis_known")
        ),
    )
    op.create_index("ix_loyalty_programs_organization_id", "loyalty_programs", ["organization_id"])
    op.create_index(
        "uq_loyalty_programs_org_code", "loyalty_programs", ["organization_id", "code"], unique=True
    )
    op.create_index(
        "uq_loyalty_programs_org_active",
        "loyalty_programs",
        ["organization_id"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )

    op.create_table(
        "loyalty_tiers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("threshold", sa.Numeric(15, 2), nullable=False),
        sa.Column("points_multiplier", sa.Numeric(4, 2), nullable=False),
        sa.Column("benefits", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_tiers"),
        organization_fk("loyalty_tiers"),
        foreign_key("loyalty_tiers", "program_id", "loyalty_programs"),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_loyalty_tiers_threshold_not_negative")),
        sa.CheckConstraint(
            "points_multiplier >= 1", name=op.f("ck_loyalty_tiers_multiplier_at_least_one")
        ),
    )
    op.create_index("ix_loyalty_tiers_organization_id", "loyalty_tiers", ["organization_id"])
    op.create_index(
        "uq_loyalty_tiers_program_name", "loyalty_tiers", ["program_id", "name"], unique=True
    )
    op.create_index(
        "uq_loyalty_tiers_program_threshold",
        "loyalty_tiers",
        ["program_id", "threshold"],
        unique=True,
    )

    op.create_table(
        "loyalty_category_rules",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.Column("multiplier", sa.Numeric(5, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_category_rules"),
        organization_fk("loyalty_category_rules"),
        foreign_key("loyalty_category_rules", "program_id", "loyalty_programs"),
        foreign_key("loyalty_category_rules", "category_id", "product_categories"),
        sa.CheckConstraint(
            "multiplier >= 0", name=op.f("ck_loyalty_category_rules_multiplier_not_negative")
        ),
    )
    op.create_index(
        "ix_loyalty_category_rules_organization_id", "loyalty_category_rules", ["organization_id"]
    )
    op.create_index(
        "uq_loyalty_category_rules_program_category",
        "loyalty_category_rules",
        ["program_id", "category_id"],
        unique=True,
    )

    op.create_table(
        "loyalty_members",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("membership_number", sa.String(20), nullable=False),
        created_at("joined_at"),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("tier_id", sa.BigInteger()),
        sa.Column("tier_since", sa.DateTime(timezone=True)),
        sa.Column("tier_review_on", sa.Date(), nullable=False),
        sa.Column("points_balance", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lifetime_points", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_members"),
        organization_fk("loyalty_members"),
        foreign_key("loyalty_members", "program_id", "loyalty_programs"),
        foreign_key("loyalty_members", "customer_id", "customers"),
        foreign_key("loyalty_members", "tier_id", "loyalty_tiers", "SET NULL"),
        sa.CheckConstraint(
            "points_balance >= 0", name=op.f("ck_loyalty_members_balance_not_negative")
        ),
    )
    op.create_index("ix_loyalty_members_organization_id", "loyalty_members", ["organization_id"])
    op.create_index(
        "uq_loyalty_members_program_customer",
        "loyalty_members",
        ["program_id", "customer_id"],
        unique=True,
    )
    op.create_index(
        "uq_loyalty_members_org_number",
        "loyalty_members",
        ["organization_id", "membership_number"],
        unique=True,
    )
    op.create_index(
        "ix_loyalty_members_org_customer", "loyalty_members", ["organization_id", "customer_id"]
    )
    op.create_index(
        "ix_loyalty_members_org_review", "loyalty_members", ["organization_id", "tier_review_on"]
    )

    op.create_table(
        "loyalty_ledger",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("order_id", sa.BigInteger()),
        sa.Column("source_key", sa.String(80)),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_ledger"),
        organization_fk("loyalty_ledger"),
        foreign_key("loyalty_ledger", "member_id", "loyalty_members"),
        foreign_key("loyalty_ledger", "order_id", "orders", "SET NULL"),
        foreign_key("loyalty_ledger", "created_by_id", "users", "SET NULL"),
        sa.CheckConstraint(
            "kind IN ('earn', 'redeem', 'expire', 'adjust', 'reverse')",
            name=op.f("ck_loyalty_ledger_kind_known"),
        ),
        sa.CheckConstraint("points <> 0", name=op.f("ck_loyalty_ledger_points_not_zero")),
        sa.CheckConstraint(
            "(kind = 'earn' AND points > 0) OR (kind IN ('redeem', 'expire', 'reverse') "
            "AND points < 0) OR kind = 'adjust'",
            name=op.f("ck_loyalty_ledger_sign_matches_kind"),
        ),
    )
    op.create_index("ix_loyalty_ledger_organization_id", "loyalty_ledger", ["organization_id"])
    op.create_index(
        "ix_loyalty_ledger_org_member", "loyalty_ledger", ["organization_id", "member_id", "id"]
    )
    op.create_index(
        "uq_loyalty_ledger_org_source",
        "loyalty_ledger",
        ["organization_id", "source_key"],
        unique=True,
        postgresql_where=sa.text("source_key IS NOT NULL"),
    )
    op.create_index(
        "ix_loyalty_ledger_order_id",
        "loyalty_ledger",
        ["order_id"],
        postgresql_where=sa.text("order_id IS NOT NULL"),
    )
    op.execute(LEDGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER loyalty_ledger_apply AFTER INSERT ON loyalty_ledger "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION loyalty_ledger_apply()"
    )
    # Append-only for the app: entries are added, never changed or removed.
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON loyalty_ledger FROM {app_role()}")

    op.create_table(
        "loyalty_lots",
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name="pk_loyalty_lots"),
        organization_fk("loyalty_lots"),
        foreign_key("loyalty_lots", "entry_id", "loyalty_ledger"),
        foreign_key("loyalty_lots", "member_id", "loyalty_members"),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_loyalty_lots_remaining_not_negative")),
    )
    op.create_index("ix_loyalty_lots_organization_id", "loyalty_lots", ["organization_id"])
    op.create_index(
        "ix_loyalty_lots_member_open",
        "loyalty_lots",
        ["organization_id", "member_id", "earned_at", "entry_id"],
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_index(
        "ix_loyalty_lots_org_expiring",
        "loyalty_lots",
        ["organization_id", "expires_at"],
        postgresql_where=sa.text("remaining > 0 AND expires_at IS NOT NULL"),
    )

    op.create_table(
        "loyalty_tier_changes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("from_tier_id", sa.BigInteger()),
        sa.Column("to_tier_id", sa.BigInteger()),
        sa.Column("reason", sa.String(10), nullable=False),
        created_at("changed_at"),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_tier_changes"),
        organization_fk("loyalty_tier_changes"),
        foreign_key("loyalty_tier_changes", "member_id", "loyalty_members"),
        foreign_key("loyalty_tier_changes", "from_tier_id", "loyalty_tiers", "SET NULL"),
        foreign_key("loyalty_tier_changes", "to_tier_id", "loyalty_tiers", "SET NULL"),
        sa.CheckConstraint(
            "reason IN ('join', 'upgrade', 'review')",
            name=op.f("ck_loyalty_tier_changes_reason_known"),
        ),
    )
    op.create_index(
        "ix_loyalty_tier_changes_organization_id", "loyalty_tier_changes", ["organization_id"]
    )
    op.create_index(
        "ix_loyalty_tier_changes_org_member",
        "loyalty_tier_changes",
        ["organization_id", "member_id", "id"],
    )

    op.create_table(
        "loyalty_rewards",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("points_cost", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer()),
        sa.Column("product_id", sa.BigInteger()),
        sa.Column("coupon_type", sa.String(10), nullable=False),
        sa.Column("coupon_value", sa.Numeric(15, 2)),
        sa.Column("coupon_valid_days", sa.Integer()),
        sa.Column("min_tier_id", sa.BigInteger()),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_rewards"),
        organization_fk("loyalty_rewards"),
        foreign_key("loyalty_rewards", "program_id", "loyalty_programs"),
        foreign_key("loyalty_rewards", "product_id", "products"),
        foreign_key("loyalty_rewards", "min_tier_id", "loyalty_tiers", "SET NULL"),
        sa.CheckConstraint(
            "kind IN ('product', 'service', 'coupon', 'experience')",
            name=op.f("ck_loyalty_rewards_kind_known"),
        ),
        sa.CheckConstraint("points_cost > 0", name=op.f("ck_loyalty_rewards_cost_positive")),
        sa.CheckConstraint(
            "stock IS NULL OR stock >= 0", name=op.f("ck_loyalty_rewards_stock_not_negative")
        ),
        sa.CheckConstraint(
            "(kind = 'product') = (product_id IS NOT NULL)",
            name=op.f("ck_loyalty_rewards_product_reward"),
        ),
        sa.CheckConstraint(
            "kind <> 'coupon' OR (coupon_type IN ('percent', 'amount') AND coupon_value > 0 "
            "AND coupon_valid_days > 0)",
            name=op.f("ck_loyalty_rewards_coupon_terms"),
        ),
    )
    op.create_index("ix_loyalty_rewards_organization_id", "loyalty_rewards", ["organization_id"])
    op.create_index(
        "ix_loyalty_rewards_org_program",
        "loyalty_rewards",
        ["organization_id", "program_id", "points_cost"],
    )

    op.create_table(
        "loyalty_redemptions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("reward_id", sa.BigInteger()),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.BigInteger()),
        created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_redemptions"),
        organization_fk("loyalty_redemptions"),
        foreign_key("loyalty_redemptions", "member_id", "loyalty_members"),
        foreign_key("loyalty_redemptions", "reward_id", "loyalty_rewards", "SET NULL"),
        foreign_key("loyalty_redemptions", "entry_id", "loyalty_ledger"),
        foreign_key("loyalty_redemptions", "created_by_id", "users", "SET NULL"),
    )
    op.create_index(
        "ix_loyalty_redemptions_organization_id", "loyalty_redemptions", ["organization_id"]
    )
    op.create_index(
        "ix_loyalty_redemptions_org_member",
        "loyalty_redemptions",
        ["organization_id", "member_id", "id"],
    )

    op.create_table(
        "loyalty_coupons",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("redemption_id", sa.BigInteger()),
        sa.Column("discount_type", sa.String(10), nullable=False),
        sa.Column("discount_value", sa.Numeric(15, 2), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("order_id", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_loyalty_coupons"),
        organization_fk("loyalty_coupons"),
        foreign_key("loyalty_coupons", "member_id", "loyalty_members"),
        foreign_key("loyalty_coupons", "redemption_id", "loyalty_redemptions", "SET NULL"),
        foreign_key("loyalty_coupons", "order_id", "orders", "SET NULL"),
        sa.CheckConstraint(
            "discount_type IN ('percent', 'amount')", name=op.f("ck_loyalty_coupons_type_known")
        ),
        sa.CheckConstraint("discount_value > 0", name=op.f("ck_loyalty_coupons_value_positive")),
    )
    op.create_index("ix_loyalty_coupons_organization_id", "loyalty_coupons", ["organization_id"])
    op.create_index(
        "uq_loyalty_coupons_org_code", "loyalty_coupons", ["organization_id", "code"], unique=True
    )
    op.create_index(
        "ix_loyalty_coupons_org_member", "loyalty_coupons", ["organization_id", "member_id"]
    )

    for table in TABLES:
        enable_tenant_rls(table)
    create_definer_function(
        LOYALTY_ORGANIZATIONS,
        "SETOF bigint",
        "SELECT organization_id FROM loyalty_programs WHERE is_active",
    )


def downgrade():
    op.execute(f"DROP FUNCTION {LOYALTY_ORGANIZATIONS}")
    for table in reversed(TABLES):
        disable_tenant_rls(table)
    op.execute("DROP TRIGGER loyalty_ledger_apply ON loyalty_ledger")
    op.execute("DROP FUNCTION loyalty_ledger_apply()")
    for table in reversed(TABLES):
        op.drop_table(table)
