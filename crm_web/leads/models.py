"""Leads (seed 001's Lead with BANT), scoring rules, sales teams, assignment rules and history."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

LEAD_STATUSES = ("new", "contacted", "qualified", "converted", "disqualified")
OPEN_STATUSES = ("new", "contacted", "qualified")
LEAD_SOURCES = (
    "web_form",
    "social_media",
    "referral",
    "trade_show",
    "cold_call",
    "email_campaign",
    "partner",
    "advertising",
    "other",
)
CAPTURE_CHANNELS = ("manual", "web_form", "api", "import")
AUTHORITIES = ("unknown", "decision_maker", "influencer", "evaluator", "end_user")
TIMELINES = ("", "immediate", "1-3 months", "3-6 months", "6-12 months", "12+ months")
SCORING_FACTORS = ("demographic", "firmographic", "behavioural", "engagement")
ASSIGNMENT_METHODS = ("round_robin", "least_loaded")

_OPEN_SQL = "status IN ('new', 'contacted', 'qualified')"
# Folded by the database's crm_fold() (migration 0026), as lead_search_ids folds the query.
SEARCH_TEXT_SQL = "crm_fold(first_name || ' ' || last_name || ' ' || company || ' ' || email)"


class LeadSettings(Audited, db.Model):
    """Per-organization lead capture settings; created with the default scoring rules on first use."""

    __tablename__ = "lead_settings"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    web_form_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    web_form_thank_you: Mapped[str] = mapped_column(
        Text, default="Thank you! We will be in touch shortly."
    )
    auto_assign: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    @property
    def audit_organization_id(self) -> int:
        return self.organization_id


class Team(Audited, TenantMixin, TimestampMixin, db.Model):
    """A sales team that assignment rules route leads to."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_teams_org_name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Round-robin state: the next lead goes to the member after this one (row locked while choosing).
    last_assigned_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )


class TeamMember(Audited, TenantMixin, db.Model):
    __tablename__ = "team_members"
    __table_args__ = (Index("ix_team_members_org_user", "organization_id", "user_id"),)

    team_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Lead(Audited, TenantMixin, TimestampMixin, db.Model):
    """A potential customer (seed 001), with BANT, its score and where it is in qualification."""

    __tablename__ = "leads"
    __table_args__ = (
        Index("uq_leads_org_number", "organization_id", "lead_number", unique=True),
        # The list, newest first; and filtered by status or owner, newest first.
        Index("ix_leads_org_id", "organization_id", "id"),
        Index("ix_leads_org_status", "organization_id", "status", "id"),
        Index("ix_leads_org_assignee", "organization_id", "assigned_to_id", "id"),
        # The best-first list; with the status included the scoring analysis scans only the index.
        Index(
            "ix_leads_org_score",
            "organization_id",
            "lead_score",
            "id",
            postgresql_include=["status"],
        ),
        # Workload balancing counts each candidate's open leads.
        Index(
            "ix_leads_open_by_assignee",
            "organization_id",
            "assigned_to_id",
            postgresql_where=text(_OPEN_SQL),
        ),
        # A returning web-form visitor and the list's email search. Emails are stored lower-cased,
        # and a plain column keeps the index usable under row-level security (lower() is not
        # leakproof, so an index on lower(email) would never be used by the app role).
        Index("ix_leads_org_email", "organization_id", "email"),
        # The CSV import finds leads by phone as well as by email.
        Index(
            "ix_leads_org_phone",
            "organization_id",
            "phone",
            postgresql_where=text("phone <> ''"),
        ),
        # Substring search on name, company and email (pg_trgm; btree_gin for the leading id).
        Index(
            "ix_leads_search_trgm",
            "organization_id",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        CheckConstraint(
            "status IN ('new', 'contacted', 'qualified', 'converted', 'disqualified')",
            name="status_known",
        ),
        CheckConstraint("lead_score BETWEEN 0 AND 100", name="score_percent"),
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget_not_negative"),
        CheckConstraint(
            "(status = 'converted') = (converted_at IS NOT NULL)", name="converted_has_date"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lead_number: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(50), default="other")
    captured_via: Mapped[str] = mapped_column(String(20), default="manual")
    first_name: Mapped[str] = mapped_column(String(50), default="")
    last_name: Mapped[str] = mapped_column(String(50), default="")
    company: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    website: Mapped[str] = mapped_column(String(200), default="")
    industry: Mapped[str] = mapped_column(String(50), default="")
    company_size: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    # BANT: budget, authority, need, timeline.
    budget: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))
    authority: Mapped[str] = mapped_column(String(20), default="unknown")
    need: Mapped[str] = mapped_column(Text, default="")
    timeline: Mapped[str] = mapped_column(String(50), default="")
    lead_score: Mapped[int] = mapped_column(Integer, default=0)
    # {"demographic": 15, ..., "total": 40, "matched": [{"rule": .., "label": .., "points": ..}]}
    score_breakdown: Mapped[dict] = mapped_column(JSONB, default=dict)
    recommended_action: Mapped[str] = mapped_column(String(40), default="")
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Behaviour the scoring rules read: web form visits, and activity figures the activities domain reports.
    form_submissions: Mapped[int] = mapped_column(Integer, default=0)
    activity_count: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="new")
    status_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    disqualified_reason: Mapped[str] = mapped_column(Text, default="")
    assigned_to_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    converted_customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="SET NULL")
    )
    # The opportunities table comes in a later revision, which points back at the lead (lead_id).
    converted_opportunity_id: Mapped[int | None] = mapped_column(BigInteger)
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str] = mapped_column(Text, Computed(SEARCH_TEXT_SQL, persisted=True))
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.company

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class LeadScoringRule(Audited, TenantMixin, TimestampMixin, db.Model):
    """One scoring rule: when `field` `operator` `value` holds for a lead, add `points` to its factor."""

    __tablename__ = "lead_scoring_rules"
    __table_args__ = (
        Index("ix_lead_scoring_rules_org_position", "organization_id", "position", "id"),
        CheckConstraint(
            "factor IN ('demographic', 'firmographic', 'behavioural', 'engagement')",
            name="factor_known",
        ),
        CheckConstraint("points BETWEEN -100 AND 100", name="points_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    factor: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(40))
    operator: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(500), default="")
    # The value as the scoring query reads it: lower-cased words, or a number (days for recency).
    match_values: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    threshold: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))
    points: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class AssignmentRule(Audited, TenantMixin, TimestampMixin, db.Model):
    """Routes matching new leads to a user or a team; the first matching rule by priority wins."""

    __tablename__ = "assignment_rules"
    __table_args__ = (
        Index("ix_assignment_rules_org_priority", "organization_id", "priority", "id"),
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_target"),
        CheckConstraint("method IN ('round_robin', 'least_loaded')", name="method_known"),
        CheckConstraint(
            "max_open_leads IS NULL OR max_open_leads > 0", name="max_open_leads_positive"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Conditions: an empty list matches anything; values compare case-insensitively.
    sources: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    industries: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    countries: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    cities: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    team_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("teams.id", ondelete="CASCADE")
    )
    method: Mapped[str] = mapped_column(String(20), default="round_robin")
    # Only members having all these skills qualify (skill match).
    required_skills: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    # Members already holding this many open leads are passed over (workload cap).
    max_open_leads: Mapped[int | None] = mapped_column(Integer)


class LeadAssignment(Audited, TenantMixin, db.Model):
    """Who got a lead, from whom, and why (a rule or a person)."""

    __tablename__ = "lead_assignments"
    __table_args__ = (Index("ix_lead_assignments_org_lead", "organization_id", "lead_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lead_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("leads.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    previous_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    rule_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("assignment_rules.id", ondelete="SET NULL")
    )
    method: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(200), default="")
    assigned_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# A lead converted into a customer that is later merged points at the customer kept.
register_customer_reference("leads", "converted_customer_id")
