"""Email templates with their versions, campaigns with their variants, the recipient ledger and
the tracked opens and clicks."""

from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

TEMPLATE_CATEGORIES = ("newsletter", "promotion", "event", "birthday", "custom")
# draft -> scheduled -> sending (-> paused -> sending) -> sent; draft/scheduled/sending/paused
# -> cancelled.
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled")
SCHEDULE_MODES = ("now", "at", "local")
AB_METRICS = ("opens", "clicks")
# held: in an A/B test's remainder, waiting for the winner.
# delivered: an SMS the gateway reported delivered.
RECIPIENT_STATUSES = ("held", "queued", "sent", "delivered", "failed", "skipped")
CHANNELS = ("email", "sms")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class EmailTemplate(Audited, TenantMixin, TimestampMixin, db.Model):
    """A template of the organization's library; what it says is in its versions."""

    __tablename__ = "email_templates"
    __table_args__ = (
        Index("ix_email_templates_org_name", "organization_id", "name", "id"),
        CheckConstraint(_in("category", TEMPLATE_CATEGORIES), name="category_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(20), default="custom")
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class EmailTemplateVersion(Audited, TenantMixin, db.Model):
    """One saved state of a template, never changed: a campaign sends the version it was
    scheduled with. `links` are the HTML's trackable links, in order (a click names its index)."""

    __tablename__ = "email_template_versions"
    # The version itself keeps the content; the log says who saved which version when.
    audit_hidden = frozenset({"html", "text", "links"})
    __table_args__ = (
        Index(
            "uq_email_template_versions_number",
            "organization_id",
            "template_id",
            "version",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    template_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("email_templates.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    html: Mapped[str] = mapped_column(Text)
    # Written by the marketer, or derived from the HTML when saved without one.
    text: Mapped[str] = mapped_column(Text)
    links: Mapped[list] = mapped_column(JSONB, default=list)
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Campaign(Audited, TenantMixin, TimestampMixin, db.Model):
    """An email or SMS to the customers of some segments but not others, at a time, with its variants."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_org_id", "organization_id", "id"),
        # The scheduler's scan: scheduled campaigns by their start.
        Index("ix_campaigns_due", "starts_at", postgresql_where=text("status = 'scheduled'")),
        CheckConstraint(_in("status", CAMPAIGN_STATUSES), name="status_known"),
        CheckConstraint(_in("schedule_mode", SCHEDULE_MODES), name="schedule_mode_known"),
        CheckConstraint(_in("ab_metric", AB_METRICS), name="ab_metric_known"),
        CheckConstraint(_in("channel", CHANNELS), name="channel_known"),
        CheckConstraint("ab_test_percent BETWEEN 0 AND 50", name="ab_test_percent_range"),
        CheckConstraint(
            "throttle_per_minute IS NULL OR throttle_per_minute > 0", name="throttle_positive"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(150))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    # An SMS campaign sends `sms_body` (merge fields, sandboxed) from `sender_id` (empty: the
    # gateway's number) and has no variants.
    channel: Mapped[str] = mapped_column(String(5), default="email", server_default="email")
    sms_body: Mapped[str] = mapped_column(Text, default="", server_default="")
    sender_id: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # A customer campaign preference type (customer360.CAMPAIGN_TYPES); "" for none.
    topic: Mapped[str] = mapped_column(String(30), default="")
    from_name: Mapped[str] = mapped_column(String(100), default="")
    from_address: Mapped[str] = mapped_column(String(254), default="")
    reply_to: Mapped[str] = mapped_column(String(254), default="")
    include_segment_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list)
    exclude_segment_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list)
    schedule_mode: Mapped[str] = mapped_column(String(10), default="now")
    # "at": the moment; "local": the day and time in each recipient's timezone.
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    local_date: Mapped[date | None] = mapped_column(Date)
    local_time: Mapped[time | None] = mapped_column(Time)
    # When the scheduler starts it (for "local", the moment the day begins on Earth's east).
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    throttle_per_minute: Mapped[int | None] = mapped_column(Integer)
    # A survey each recipient gets a personal link to (the `survey_url` merge field).
    survey_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("surveys.id", ondelete="SET NULL")
    )
    ab_test_percent: Mapped[int] = mapped_column(SmallInteger, default=0)
    ab_metric: Mapped[str] = mapped_column(String(10), default="opens")
    ab_wait_minutes: Mapped[int] = mapped_column(Integer, default=240)
    ab_auto: Mapped[bool] = mapped_column(Boolean, default=True)
    ab_decide_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    winner_variant: Mapped[int | None] = mapped_column(SmallInteger)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )


class CampaignVariant(TenantMixin, db.Model):
    """What one variant sends: a template version and its subject (one variant without A/B)."""

    __tablename__ = "campaign_variants"
    __table_args__ = (
        Index(
            "uq_campaign_variants_position",
            "organization_id",
            "campaign_id",
            "position",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("email_template_versions.id", ondelete="RESTRICT")
    )
    subject: Mapped[str] = mapped_column(String(300))


class CampaignRecipient(TenantMixin, db.Model):
    """The ledger: one row per campaign and customer, written at start with consent applied."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        Index(
            "uq_campaign_recipients_customer",
            "organization_id",
            "campaign_id",
            "customer_id",
            unique=True,
        ),
        Index("ix_campaign_recipients_status", "organization_id", "campaign_id", "status", "id"),
        Index("ix_campaign_recipients_customer", "organization_id", "customer_id", "sent_at"),
        CheckConstraint(_in("status", RECIPIENT_STATUSES), name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(20), default="", server_default="")
    variant: Mapped[int | None] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str] = mapped_column(String(300), default="", server_default="")
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clicked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CampaignEvent(TenantMixin, db.Model):
    """A tracked open or click, written in batches from the buffer; `suspect` marks a likely
    machine open or link scanner (within seconds of delivery)."""

    __tablename__ = "campaign_events"
    __table_args__ = (
        Index("ix_campaign_events_campaign", "organization_id", "campaign_id", "occurred_at"),
        CheckConstraint("kind IN ('open', 'click')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    recipient_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("campaign_recipients.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(5))
    link_index: Mapped[int | None] = mapped_column(SmallInteger)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    suspect: Mapped[bool] = mapped_column(Boolean, default=False)


register_customer_reference("campaign_recipients", unique_with=("campaign_id",))
