"""Loyalty (seed 001 §5): the program with its earn rules and tiers, members, the points ledger
and its lots, the rewards catalog, redemptions and coupons.

Points are a ledger: entries are only ever added (the app role may not change or delete
them, 0032_loyalty), and a member's balance is their sum, kept on the member by the ledger's
trigger under a CHECK that it never goes below zero. Each positive entry opens a lot (what is
left of it, when it expires); redemptions and expiry take from the oldest lots first.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_web.customers.models import Customer
from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

ENTRY_KINDS = ("earn", "redeem", "expire", "adjust", "reverse")
TIER_BASES = ("points", "spend")
REWARD_KINDS = ("product", "service", "coupon", "experience")
COUPON_TYPES = ("percent", "amount")
TIER_CHANGES = ("join", "upgrade", "review")


class LoyaltyProgram(Audited, TenantMixin, TimestampMixin, db.Model):
    """Seed 001's LoyaltyProgram: how points are earned and expire, and how tiers are judged.

    Earning: each currency unit of an order's lines (before tax, after discounts) earns
    `points_per_unit`, times its category's multiplier, the member's tier multiplier and, in
    the customer's birthday month, `birthday_multiplier`; a customer's first order adds
    `first_order_bonus`. A referral or a survey response earns its fixed points.
    """

    __tablename__ = "loyalty_programs"
    __table_args__ = (
        Index("uq_loyalty_programs_org_code", "organization_id", "code", unique=True),
        # Orders earn in the organization's one active program.
        Index(
            "uq_loyalty_programs_org_active",
            "organization_id",
            unique=True,
            postgresql_where=text("is_active"),
        ),
        CheckConstraint("points_per_unit >= 0", name="points_per_unit_not_negative"),
        CheckConstraint("point_expiry_days >= 0", name="expiry_not_negative"),
        CheckConstraint("birthday_multiplier >= 1", name="birthday_multiplier_at_least_one"),
        CheckConstraint(
            "first_order_bonus >= 0 AND referral_points >= 0 AND survey_points >= 0",
            name="bonuses_not_negative",
        ),
        CheckConstraint("tier_basis IN ('points', 'spend')", name="tier_basis_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    points_per_unit: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal("1"))
    # Days a lot of points lives after it is earned; 0: points never expire.
    point_expiry_days: Mapped[int] = mapped_column(Integer, default=365)
    birthday_multiplier: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("2"))
    first_order_bonus: Mapped[int] = mapped_column(Integer, default=0)
    referral_points: Mapped[int] = mapped_column(Integer, default=0)
    survey_points: Mapped[int] = mapped_column(Integer, default=0)
    # Tiers are judged on lifetime points or on spend in the last 12 months.
    tier_basis: Mapped[str] = mapped_column(String(10), default="points")
    terms: Mapped[str] = mapped_column(Text, default="")

    tiers: Mapped[list["LoyaltyTier"]] = relationship(
        order_by="LoyaltyTier.threshold", cascade="all, delete-orphan"
    )
    category_rules: Mapped[list["LoyaltyCategoryRule"]] = relationship(cascade="all, delete-orphan")


class LoyaltyTier(Audited, TenantMixin, db.Model):
    """A membership level: reached at `threshold` (points or spend), with its benefits."""

    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        Index("uq_loyalty_tiers_program_name", "program_id", "name", unique=True),
        Index("uq_loyalty_tiers_program_threshold", "program_id", "threshold", unique=True),
        CheckConstraint("threshold >= 0", name="threshold_not_negative"),
        CheckConstraint("points_multiplier >= 1", name="multiplier_at_least_one"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    program_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_programs.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(60))
    threshold: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    # A tier's benefit in points: its members earn faster.
    points_multiplier: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("1"))
    benefits: Mapped[str] = mapped_column(Text, default="")


class LoyaltyCategoryRule(Audited, TenantMixin, db.Model):
    """Products of a category earn `multiplier` times the points."""

    __tablename__ = "loyalty_category_rules"
    __table_args__ = (
        Index(
            "uq_loyalty_category_rules_program_category", "program_id", "category_id", unique=True
        ),
        CheckConstraint("multiplier >= 0", name="multiplier_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    program_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_programs.id", ondelete="CASCADE")
    )
    category_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("product_categories.id", ondelete="CASCADE")
    )
    multiplier: Mapped[Decimal] = mapped_column(Numeric(5, 2))


class LoyaltyMember(Audited, TenantMixin, db.Model):
    """Seed 001's CustomerLoyalty: a customer in the program, their tier and points."""

    __tablename__ = "loyalty_members"
    __table_args__ = (
        Index("uq_loyalty_members_program_customer", "program_id", "customer_id", unique=True),
        Index("uq_loyalty_members_org_number", "organization_id", "membership_number", unique=True),
        Index("ix_loyalty_members_org_customer", "organization_id", "customer_id"),
        # The yearly review finds the members whose day has come.
        Index("ix_loyalty_members_org_review", "organization_id", "tier_review_on"),
        # The ledger's foreign key: (organization, member) in one check.
        Index("uq_loyalty_members_org_id", "organization_id", "id", unique=True),
        CheckConstraint("points_balance >= 0", name="balance_not_negative"),
    )

    # Indexed by uq_loyalty_members_org_id, which leads with it.
    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    program_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_programs.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    membership_number: Mapped[str] = mapped_column(String(20))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    tier_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    tier_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Upgrades come at once; a lower tier only at this yearly review.
    tier_review_on: Mapped[date] = mapped_column(Date)
    # Kept by the ledger's trigger: the sum of the member's entries, and of what they earned.
    points_balance: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lifetime_points: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    customer: Mapped[Customer] = relationship(lazy="joined", innerjoin=True)
    tier: Mapped[LoyaltyTier | None] = relationship(lazy="joined")
    program: Mapped[LoyaltyProgram] = relationship(lazy="joined", innerjoin=True)


class LedgerEntry(TenantMixin, db.Model):
    """One change of a member's points; only ever added.

    earn (+, opens a lot that expires), redeem (-), expire (-, a lot's rest), adjust (+ or -,
    by hand with a note), reverse (-, what a returned or cancelled order had earned).
    `source_key` names what caused it (order:42:earn, referral:CUS-000042) so it is written
    once however often its job runs; `details` says how it was worked out (the earn rules
    applied, the lots a debit or an expiry took from).
    """

    __tablename__ = "loyalty_ledger"
    __table_args__ = (
        # One foreign key for the organization and the member: an insert checks one row per
        # entry, not two (the expiry job writes an entry per member at once). The member's
        # organization's foreign key stands for the entry's.
        ForeignKeyConstraint(
            ["organization_id", "member_id"],
            ["loyalty_members.organization_id", "loyalty_members.id"],
            name="fk_loyalty_ledger_org_member_loyalty_members",
            ondelete="CASCADE",
        ),
        Index("ix_loyalty_ledger_org_member", "organization_id", "member_id", "id"),
        Index(
            "uq_loyalty_ledger_org_source",
            "organization_id",
            "source_key",
            unique=True,
            postgresql_where=text("source_key IS NOT NULL"),
        ),
        Index(
            "ix_loyalty_ledger_order_id", "order_id", postgresql_where=text("order_id IS NOT NULL")
        ),
        CheckConstraint(
            "kind IN ('earn', 'redeem', 'expire', 'adjust', 'reverse')", name="kind_known"
        ),
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint(
            "(kind = 'earn' AND points > 0) OR (kind IN ('redeem', 'expire', 'reverse') "
            "AND points < 0) OR kind = 'adjust'",
            name="sign_matches_kind",
        ),
    )

    # Indexed by ix_loyalty_ledger_org_member, which leads with it.
    organization_id: Mapped[int] = mapped_column(BigInteger)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))
    points: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("orders.id", ondelete="SET NULL")
    )
    source_key: Mapped[str | None] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSONB, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PointLot(TenantMixin, db.Model):
    """What is left of one positive entry, and when it expires: redemptions take from the
    oldest lots first, the expiry job removes those past their date (their entry stays)."""

    __tablename__ = "loyalty_lots"
    __table_args__ = (
        Index(
            "ix_loyalty_lots_member_open",
            "organization_id",
            "member_id",
            "earned_at",
            "entry_id",
            postgresql_where=text("remaining > 0"),
        ),
        Index(
            "ix_loyalty_lots_org_expiring",
            "organization_id",
            "expires_at",
            postgresql_where=text("remaining > 0 AND expires_at IS NOT NULL"),
        ),
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
    )

    entry_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_ledger.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_members.id", ondelete="CASCADE")
    )
    earned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remaining: Mapped[int] = mapped_column(Integer)


class TierChange(TenantMixin, db.Model):
    """A member's tier changed (on joining, an upgrade, the yearly review)."""

    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (
        Index("ix_loyalty_tier_changes_org_member", "organization_id", "member_id", "id"),
        CheckConstraint("reason IN ('join', 'upgrade', 'review')", name="reason_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_members.id", ondelete="CASCADE")
    )
    from_tier_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    to_tier_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(10))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Reward(Audited, TenantMixin, TimestampMixin, db.Model):
    """A reward of the catalog: a product (taken from stock), a service, a discount coupon or
    an experience, for `points_cost` points; `stock` None is unlimited; `min_tier_id` keeps it
    to members of that tier or higher."""

    __tablename__ = "loyalty_rewards"
    __table_args__ = (
        Index("ix_loyalty_rewards_org_program", "organization_id", "program_id", "points_cost"),
        CheckConstraint(
            "kind IN ('product', 'service', 'coupon', 'experience')", name="kind_known"
        ),
        CheckConstraint("points_cost > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("(kind = 'product') = (product_id IS NOT NULL)", name="product_reward"),
        CheckConstraint(
            "kind <> 'coupon' OR (coupon_type IN ('percent', 'amount') AND coupon_value > 0 "
            "AND coupon_valid_days > 0)",
            name="coupon_terms",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    program_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_programs.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(Text, default="")
    points_cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("products.id", ondelete="CASCADE")
    )
    coupon_type: Mapped[str] = mapped_column(String(10), default="")
    coupon_value: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))
    coupon_valid_days: Mapped[int | None] = mapped_column(Integer)
    min_tier_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("loyalty_tiers.id", ondelete="SET NULL")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    min_tier: Mapped[LoyaltyTier | None] = relationship(lazy="joined")


class Redemption(TenantMixin, db.Model):
    """A member spent points: on a reward, or on a plain redemption by staff (no reward)."""

    __tablename__ = "loyalty_redemptions"
    __table_args__ = (
        Index("ix_loyalty_redemptions_org_member", "organization_id", "member_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_members.id", ondelete="CASCADE")
    )
    reward_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("loyalty_rewards.id", ondelete="SET NULL")
    )
    entry_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_ledger.id", ondelete="CASCADE")
    )
    points: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    reward: Mapped[Reward | None] = relationship(lazy="joined")


class Coupon(TenantMixin, db.Model):
    """A discount coupon a member redeemed: a unique code, a valid period, used once on an order."""

    __tablename__ = "loyalty_coupons"
    __table_args__ = (
        Index("uq_loyalty_coupons_org_code", "organization_id", "code", unique=True),
        Index("ix_loyalty_coupons_org_member", "organization_id", "member_id"),
        CheckConstraint("discount_type IN ('percent', 'amount')", name="type_known"),
        CheckConstraint("discount_value > 0", name="value_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(24))
    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_members.id", ondelete="CASCADE")
    )
    redemption_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("loyalty_redemptions.id", ondelete="SET NULL")
    )
    discount_type: Mapped[str] = mapped_column(String(10))
    discount_value: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("orders.id", ondelete="SET NULL")
    )


register_customer_reference("loyalty_members", unique_with=("program_id",))
