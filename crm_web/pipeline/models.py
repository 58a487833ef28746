"""Pipeline stages, opportunities (seed 001), their stage history, sales targets and quotes (seed 004)."""

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_web.accounts.models import User
from crm_web.customers.models import Customer
from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

OUTCOMES = ("open", "won", "lost")
# Seed 003's stages and default probabilities; every new organization starts with them,
# named in its language.
DEFAULT_STAGES = (
    (_l("Prospecting"), Decimal("10"), "open"),
    (_l("Qualification"), Decimal("25"), "open"),
    (_l("Proposal"), Decimal("50"), "open"),
    (_l("Negotiation"), Decimal("75"), "open"),
    (_l("Closed Won"), Decimal("100"), "won"),
    (_l("Closed Lost"), Decimal("0"), "lost"),
)
QUOTE_STATUSES = ("draft", "pending_approval", "approved", "sent", "accepted", "rejected")


class PipelineStage(Audited, TenantMixin, TimestampMixin, db.Model):
    """A column of the board; `outcome` says whether a deal in it is open, won or lost."""

    __tablename__ = "pipeline_stages"
    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="uq_pipeline_stages_org_name"),
        Index("ix_pipeline_stages_org_position", "organization_id", "position"),
        CheckConstraint("outcome IN ('open', 'won', 'lost')", name="outcome_known"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability_percent"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    outcome: Mapped[str] = mapped_column(String(10), default="open")


# The global search's text (migration 0027): number and name, folded by crm_fold() as the
# customers' search is.
OPPORTUNITY_SEARCH_TEXT_SQL = "crm_fold(opportunity_number || ' ' || name)"


class Opportunity(Audited, TenantMixin, TimestampMixin, db.Model):
    """A deal (seed 001's Opportunity), a card on the board at `position` within its stage."""

    __tablename__ = "opportunities"
    # Derived data: the audit trail shows the fields it comes from.
    audit_hidden = frozenset({"search_text"})
    __table_args__ = (
        Index("uq_opportunities_org_number", "organization_id", "opportunity_number", unique=True),
        # A column of the board, in order; keyset pages continue after (position, id).
        Index("ix_opportunities_board", "organization_id", "stage_id", "position", "id"),
        Index(
            "ix_opportunities_owner_board",
            "organization_id",
            "owner_id",
            "stage_id",
            "position",
            "id",
        ),
        # The list view and the forecast read open deals by expected close date.
        Index("ix_opportunities_org_close", "organization_id", "expected_close_date", "id"),
        Index(
            "ix_opportunities_org_closed",
            "organization_id",
            "closed_at",
            postgresql_where=text("closed_at IS NOT NULL"),
        ),
        # The forecast's won amounts per month and owner, from the index alone (0011).
        Index(
            "ix_opportunities_org_won",
            "organization_id",
            "closed_at",
            postgresql_include=["owner_id", "amount"],
            postgresql_where=text("status = 'won'"),
        ),
        # A seller's open pipeline on the dashboard, from the index alone (0033).
        Index(
            "ix_opportunities_open_owner",
            "organization_id",
            "owner_id",
            postgresql_include=["amount", "probability", "expected_close_date", "created_at"],
            postgresql_where=text("status = 'open'"),
        ),
        # The manager's deals at risk: those touched lately, and this month's past their date,
        # from the indexes alone (0039).
        Index(
            "ix_opportunities_open_risk",
            "organization_id",
            "updated_at",
            postgresql_include=["expected_close_date", "amount"],
            postgresql_where=text("status = 'open'"),
        ),
        Index(
            "ix_opportunities_open_close",
            "organization_id",
            "expected_close_date",
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_opportunities_org_customer", "organization_id", "customer_id"),
        Index(
            "ix_opportunities_org_lead",
            "organization_id",
            "lead_id",
            postgresql_where=text("lead_id IS NOT NULL"),
        ),
        # The global search, through opportunity_search_page (pg_trgm; btree_gin for the id).
        Index(
            "ix_opportunities_search_trgm",
            "organization_id",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        CheckConstraint("status IN ('open', 'won', 'lost')", name="status_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability_percent"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    opportunity_number: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    lead_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("leads.id", ondelete="SET NULL")
    )
    stage_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("pipeline_stages.id"))
    # Copied from the stage on every move (so the board and the forecast need no join), see services.
    status: Mapped[str] = mapped_column(String(10), default="open")
    probability: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    currency: Mapped[str] = mapped_column(String(3))
    expected_close_date: Mapped[date] = mapped_column(Date)
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    # Gaps of POSITION_GAP between cards let most moves touch only the moved row.
    position: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(50), default="")
    competitor: Mapped[str] = mapped_column(String(100), default="")
    next_step: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    win_reason: Mapped[str] = mapped_column(Text, default="")
    loss_reason: Mapped[str] = mapped_column(Text, default="")
    stage_entered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    search_text: Mapped[str] = mapped_column(
        Text, Computed(OPPORTUNITY_SEARCH_TEXT_SQL, persisted=True)
    )

    stage: Mapped[PipelineStage] = relationship(lazy="joined", innerjoin=True)
    customer: Mapped[Customer] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])

    @property
    def weighted_amount(self) -> Decimal:
        return (self.amount * self.probability / 100).quantize(Decimal("0.01"))


class StageTotal(TenantMixin, db.Model):
    """Count and sums of a stage's deals, kept by a statement trigger on opportunities (0007_pipeline),
    so the unfiltered board's column headers need no scan of the whole pipeline."""

    __tablename__ = "pipeline_stage_totals"

    stage_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("pipeline_stages.id", ondelete="CASCADE"), primary_key=True
    )
    opportunity_count: Mapped[int] = mapped_column(BigInteger, default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=Decimal("0"))
    # Sum of amount x probability / 100, unrounded: rounding happens on display.
    weighted_amount: Mapped[Decimal] = mapped_column(Numeric, default=Decimal("0"))
    # Bumped by triggers (0017_pipeline_versions) on every change to what the column's cards or
    # the forecast show: the key of their rendered fragments (crm_web.fragments).
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class MonthTotal(db.Model):
    """Count and amount of the open deals per month of expected close, owner (0: none), stage and
    probability, kept by the same trigger: the forecast reads these few rows, not every deal."""

    __tablename__ = "pipeline_month_totals"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    owner_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stage_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("pipeline_stages.id", ondelete="CASCADE"), primary_key=True
    )
    probability: Mapped[Decimal] = mapped_column(Numeric(5, 2), primary_key=True)
    opportunity_count: Mapped[int] = mapped_column(BigInteger, default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 2), default=Decimal("0"))


class StageChange(TenantMixin, db.Model):
    """One move of a deal into a stage (the first row is its creation): cycle times and win rates."""

    __tablename__ = "opportunity_stage_history"
    __table_args__ = (
        Index(
            "ix_opportunity_stage_history_opportunity",
            "organization_id",
            "opportunity_id",
            "changed_at",
        ),
        Index("ix_opportunity_stage_history_stage", "organization_id", "to_stage_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    from_stage_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("pipeline_stages.id", ondelete="SET NULL")
    )
    to_stage_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("pipeline_stages.id", ondelete="CASCADE")
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    changed_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SalesTarget(Audited, TenantMixin, TimestampMixin, db.Model):
    """The organization's sales target (quota) for one month: the denominator of pipeline coverage."""

    __tablename__ = "sales_targets"
    __table_args__ = (
        UniqueConstraint("organization_id", "month", name="uq_sales_targets_org_month"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("extract(day FROM month) = 1", name="month_first_day"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(15, 2))


class SalesSettings(Audited, TimestampMixin, db.Model):
    """Per-organization sales rules: above this total a quote needs a manager's approval; the
    terms printed under every quote and how long a new quote is valid."""

    __tablename__ = "sales_settings"
    __table_args__ = (
        CheckConstraint("quote_validity_days BETWEEN 1 AND 365", name="quote_validity_days"),
    )

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    quote_approval_threshold: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    default_tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    quote_terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    quote_validity_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")

    @property
    def audit_organization_id(self) -> int:
        return self.organization_id


class Quote(Audited, TenantMixin, TimestampMixin, db.Model):
    """One version of a quote; revising a sent quote adds a version and keeps this one unchanged."""

    __tablename__ = "quotes"
    __table_args__ = (
        Index(
            "uq_quotes_org_number_version",
            "organization_id",
            "quote_number",
            "version",
            unique=True,
        ),
        # Exactly one version of a quote is the one being worked on.
        Index(
            "uq_quotes_org_number_current",
            "organization_id",
            "quote_number",
            unique=True,
            postgresql_where=text("is_current"),
        ),
        Index("ix_quotes_org_opportunity", "organization_id", "opportunity_id", "id"),
        Index("ix_quotes_org_status", "organization_id", "status", "id"),
        # Deleting a customer document finds the quote that points at it by this index.
        Index(
            "ix_quotes_document", "document_id", postgresql_where=text("document_id IS NOT NULL")
        ),
        CheckConstraint(
            "status IN ('draft', 'pending_approval', 'approved', 'sent', 'accepted', 'rejected')",
            name="status_known",
        ),
        CheckConstraint("discount_percent BETWEEN 0 AND 100", name="discount_percent"),
        CheckConstraint("tax_rate BETWEEN 0 AND 100", name="tax_rate_percent"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    quote_number: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    opportunity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    currency: Mapped[str] = mapped_column(String(3))
    valid_until: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    # A discount on the whole quote, applied after the line discounts and before tax.
    discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    subtotal: Mapped[Decimal] = mapped_column(Numeric(15, 2), default=Decimal("0"))
    discount_total: Mapped[Decimal] = mapped_column(Numeric(15, 2), default=Decimal("0"))
    tax_total: Mapped[Decimal] = mapped_column(Numeric(15, 2), default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(Numeric(15, 2), default=Decimal("0"))
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    approved_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approval_note: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The PDF emailed to the customer (a customer document): what they hold, kept as it was.
    document_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customer_documents.id", ondelete="SET NULL")
    )

    opportunity: Mapped[Opportunity] = relationship()
    items: Mapped[list["QuoteItem"]] = relationship(
        order_by="QuoteItem.position", cascade="all, delete-orphan", back_populates="quote"
    )
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])


class QuoteItem(Audited, TenantMixin, db.Model):
    """A line of a quote; the product is free text until the catalog exists."""

    __tablename__ = "quote_items"
    __table_args__ = (
        Index("ix_quote_items_quote", "organization_id", "quote_id", "position"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("discount_percent BETWEEN 0 AND 100", name="discount_percent"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    quote_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("quotes.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(15, 2))
    discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    line_total: Mapped[Decimal] = mapped_column(Numeric(15, 2))

    quote: Mapped[Quote] = relationship(back_populates="items")


# Merging two customers moves their deals (see customers.services).
register_customer_reference("opportunities")
