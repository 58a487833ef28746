"""Surveys: the draft document being built, the versions launched (responses always point at the
structure they answered), personal invitations, responses, and the running tallies analytics
reads instead of scanning every response."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

STATUSES = ("draft", "active", "closed")
# How a response came in: the public link, or a personal link sent by a campaign's email or
# SMS, after a ticket was resolved, or by an automation.
CHANNELS = ("public", "email", "sms", "ticket", "automation")
RESPONSE_STATES = ("in_progress", "completed")
# The running tallies are split over a few rows per answer so that respondents finishing at
# the same moment do not queue on one counter row; readers add the shards up.
TALLY_SHARDS = 8


class Survey(Audited, TenantMixin, TimestampMixin, db.Model):
    """A survey: `definition` is the document the builder edits (crm_web/surveys/definition.py);
    launching freezes it as a SurveyVersion, and `version_id` is what respondents answer."""

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'closed')", name="status_known"),
        CheckConstraint(
            "max_responses IS NULL OR max_responses > 0", name="max_responses_positive"
        ),
        Index("ix_surveys_org_status", "organization_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # The language respondents read it in and the one its open answers are scored in.
    language: Mapped[str] = mapped_column(String(5), default="en")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    definition: Mapped[dict] = mapped_column(JSONB)
    # The document before the last change in the builder: "undo" puts it back.
    undo_definition: Mapped[dict | None] = mapped_column(JSONB)
    version_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("survey_versions.id", ondelete="SET NULL", use_alter=True)
    )
    # Anonymous: no customer link and no IP kept, whatever link the response came through.
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether the public link (a signed token naming the survey) is open to anyone.
    public_link: Mapped[bool] = mapped_column(Boolean, default=True)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_responses: Mapped[int | None] = mapped_column(Integer)
    thank_you: Mapped[str] = mapped_column(Text, default="")
    completed_count: Mapped[int] = mapped_column(Integer, default=0)
    launched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )


class SurveyVersion(TenantMixin, db.Model):
    """The structure of a survey as launched; a relaunch after changes makes the next one."""

    __tablename__ = "survey_versions"
    __table_args__ = (
        Index("uq_survey_versions_number", "organization_id", "survey_id", "number", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survey_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("surveys.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class SurveyInvitation(TenantMixin, db.Model):
    """A personal link for one customer: its signed token names this row, and the unique
    invitation on responses is what lets it be answered once."""

    __tablename__ = "survey_invitations"
    __table_args__ = (
        Index("ix_survey_invitations_survey", "organization_id", "survey_id", "id"),
        Index("ix_survey_invitations_customer", "organization_id", "customer_id"),
        Index(
            "ix_survey_invitations_campaign",
            "organization_id",
            "campaign_id",
            "customer_id",
            unique=True,
            postgresql_where=text("campaign_id IS NOT NULL"),
        ),
        Index(
            "ix_survey_invitations_ticket",
            "organization_id",
            "ticket_id",
            postgresql_where=text("ticket_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survey_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("surveys.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(12))
    ticket_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tickets.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class SurveyResponse(TenantMixin, db.Model):
    """One respondent's answers, saved page by page: `page` is the page they see next. A signed
    token naming the response (in the link or a cookie) lets the respondent come back to it."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        CheckConstraint("state IN ('in_progress', 'completed')", name="state_known"),
        CheckConstraint("nps IS NULL OR nps BETWEEN 0 AND 10", name="nps_range"),
        Index("ix_survey_responses_survey", "organization_id", "survey_id", "id"),
        # Carries what analytics count per day, so they read the index alone (0042).
        Index(
            "ix_survey_responses_started",
            "organization_id",
            "survey_id",
            "started_at",
            postgresql_include=[
                "state",
                "nps",
                "sentiment_label",
                "sentiment",
                "duration_seconds",
            ],
        ),
        Index(
            "ix_survey_responses_customer",
            "organization_id",
            "customer_id",
            "completed_at",
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        Index("uq_survey_responses_invitation", "invitation_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survey_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("surveys.id", ondelete="CASCADE"))
    version_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("survey_versions.id", ondelete="CASCADE")
    )
    invitation_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("survey_invitations.id", ondelete="SET NULL")
    )
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="SET NULL")
    )
    channel: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(12), default="in_progress")
    # question id -> value (crm_web/surveys/logic.py says what each type stores)
    answers: Mapped[dict] = mapped_column(JSONB, default=dict)
    # The page shown next (its number in the version); the pages seen so far, in order.
    page: Mapped[int] = mapped_column(SmallInteger, default=0)
    pages_seen: Mapped[list] = mapped_column(JSONB, default=list)
    completion: Mapped[int] = mapped_column(SmallInteger, default=0)  # percent of its path
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(INET)
    # Read by segments, automations and the timeline without opening `answers`.
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    sentiment: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str] = mapped_column(String(10), default="")
    ticket_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("tickets.id", ondelete="SET NULL")
    )


class SurveyTally(TenantMixin, db.Model):
    """How many responses gave each answer to each question, kept as pages are saved.
    `answer` is "" for "answered at all" (the drop-off funnel), an option id, a number, a
    "row:column" cell, or "sentiment:positive"."""

    __tablename__ = "survey_tallies"

    survey_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    answer: Mapped[str] = mapped_column(String(40), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


register_customer_reference("survey_invitations")
register_customer_reference("survey_responses")
