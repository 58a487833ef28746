"""Activities and tasks (seed 001's Activity), their attendees, and the reminder outbox."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_web import labels
from crm_web.accounts.models import User
from crm_web.customers.models import Customer
from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.leads.models import Lead
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.pipeline.models import Opportunity
from crm_web.privacy.audit import Audited

ACTIVITY_TYPES = ("call", "meeting", "email", "demo", "follow_up", "proposal")
STATUSES = ("planned", "in_progress", "completed", "cancelled")
OPEN_STATUSES = ("planned", "in_progress")
PRIORITIES = ("low", "normal", "high", "urgent")

_OPEN = "status IN ('planned', 'in_progress')"


def _known(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Activity(Audited, TenantMixin, TimestampMixin, db.Model):
    """A call, meeting, demo... due at a time, assigned to a user, about a customer, lead or deal."""

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint(
            "customer_id IS NOT NULL OR lead_id IS NOT NULL OR opportunity_id IS NOT NULL",
            name="linked",
        ),
        CheckConstraint(_known("activity_type", ACTIVITY_TYPES), name="type_known"),
        CheckConstraint(_known("status", STATUSES), name="status_known"),
        CheckConstraint(_known("priority", PRIORITIES), name="priority_known"),
        CheckConstraint("duration_minutes >= 0", name="duration_not_negative"),
        CheckConstraint("reminder_minutes_before >= 0", name="reminder_not_negative"),
        # "My tasks": one user's open activities by due time, without wading through the done ones.
        Index(
            "ix_activities_open_assignee_due",
            "organization_id",
            "assigned_to_id",
            "due_at",
            "id",
            postgresql_where=text(_OPEN),
        ),
        # A calendar: one user's (or the whole team's) activities in a date range.
        Index("ix_activities_assignee_due", "organization_id", "assigned_to_id", "due_at", "id"),
        Index("ix_activities_org_due", "organization_id", "due_at", "id"),
        # Dashboards count what was completed this month and last (0033).
        Index(
            "ix_activities_org_completed",
            "organization_id",
            "completed_at",
            postgresql_where=text("status = 'completed'"),
        ),
        # The activities of one customer, lead or deal.
        Index(
            "ix_activities_customer",
            "organization_id",
            "customer_id",
            "due_at",
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        Index(
            "ix_activities_lead",
            "organization_id",
            "lead_id",
            "due_at",
            postgresql_where=text("lead_id IS NOT NULL"),
        ),
        Index(
            "ix_activities_opportunity",
            "organization_id",
            "opportunity_id",
            "due_at",
            postgresql_where=text("opportunity_id IS NOT NULL"),
        ),
        # An activity's follow-ups.
        Index(
            "ix_activities_follow_up_of",
            "organization_id",
            "follow_up_of_id",
            postgresql_where=text("follow_up_of_id IS NOT NULL"),
        ),
        # The scheduler's sweep looks across organizations for reminders that came due, so this
        # one leads with the time; it holds only reminders not yet written to the outbox.
        Index(
            "ix_activities_reminder_armed",
            "reminder_at",
            postgresql_where=text("reminder_armed"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    lead_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("leads.id", ondelete="CASCADE")
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE")
    )
    assigned_to_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="planned")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    location: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    next_action: Mapped[str] = mapped_column(Text, default="")
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    # The activity whose completion created this one.
    follow_up_of_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("activities.id", ondelete="SET NULL")
    )
    # The reminder is kept as an offset so moving the due time moves it; reminder_at is derived
    # (and indexed). Armed means "not yet written to the outbox": the sweep disarms as it writes,
    # and any change of time or assignee arms it again.
    reminder_minutes_before: Mapped[int | None] = mapped_column(Integer)
    reminder_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminder_armed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )

    assigned_to: Mapped[User] = relationship(foreign_keys=[assigned_to_id])
    customer: Mapped[Customer | None] = relationship()
    lead: Mapped[Lead | None] = relationship()
    opportunity: Mapped[Opportunity | None] = relationship()
    attendees: Mapped[list["ActivityAttendee"]] = relationship(
        order_by="ActivityAttendee.id", cascade="all, delete-orphan", back_populates="activity"
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def type_label(self) -> str:
        return labels.label(self.activity_type, "activity_type")

    @property
    def related_label(self) -> str:
        """What the activity is about, most specific first (load the links with it)."""
        if self.opportunity is not None:
            return self.opportunity.name
        if self.lead is not None:
            return self.lead.display_name
        return self.customer.display_name if self.customer is not None else ""


class ActivityAttendee(Audited, TenantMixin, db.Model):
    """Someone taking part: a user of the organization or a contact (customer)."""

    __tablename__ = "activity_attendees"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (customer_id IS NULL)", name="one_kind"),
        Index(
            "uq_activity_attendees_user",
            "organization_id",
            "activity_id",
            "user_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "uq_activity_attendees_customer",
            "organization_id",
            "activity_id",
            "customer_id",
            unique=True,
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        # A user's calendar includes the meetings they attend.
        Index(
            "ix_activity_attendees_user_activities",
            "organization_id",
            "user_id",
            "activity_id",
            postgresql_where=text("user_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("activities.id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )

    activity: Mapped[Activity] = relationship(back_populates="attendees")
    user: Mapped[User | None] = relationship(lazy="joined")
    customer: Mapped[Customer | None] = relationship(lazy="joined")

    @property
    def name(self) -> str:
        return self.user.name if self.user else self.customer.display_name


# Merging two customers moves their activities and attendances (see customers.services).
register_customer_reference("activities")
register_customer_reference("activity_attendees", unique_with=("activity_id",))
