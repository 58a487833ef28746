"""SLA policies, the business-hours calendar, and escalations with their notifications (an outbox)."""

from datetime import date, datetime

from flask_babel import gettext as _
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
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.extensions import db
from crm_web.formatting import percent
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited
from crm_web.tickets.models import ACTIVE_PREDICATE, PRIORITIES, Ticket, _in

TARGETS = ("first_response", "resolution")
ESCALATION_STATUSES = ("pending", "fired", "skipped", "cancelled")
BREACH_LEVEL = 100
MAX_TARGET_MINUTES = 365 * 24 * 60


class SlaSettings(Audited, TimestampMixin, db.Model):
    """An organization's business hours and escalation rules; without a row, the defaults."""

    __tablename__ = "sla_settings"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64))
    # Seven entries, Monday first, each like "09:00-12:00, 13:00-17:00" ("" = closed).
    weekly_hours: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # Percentages of a target at which the assignee is warned before the breach.
    warning_percents: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger))
    breach_raise_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    breach_reassign_to_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    # E.164 numbers texted on a breach (through the SMS gateway, when one is configured).
    sms_numbers: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)

    @property
    def audit_organization_id(self) -> int:
        return self.organization_id


class SlaHoliday(Audited, TenantMixin, db.Model):
    __tablename__ = "sla_holidays"
    __table_args__ = (Index("uq_sla_holidays_org_day", "organization_id", "day", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100), default="")


class SlaPolicy(Audited, TenantMixin, TimestampMixin, db.Model):
    """Targets for one priority, optionally only for customers with a tag (a tier such as "vip")."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        Index(
            "uq_sla_policies_org_priority_tag",
            "organization_id",
            "priority",
            "customer_tag",
            unique=True,
        ),
        CheckConstraint(_in("priority", PRIORITIES), name="priority"),
        CheckConstraint(
            f"first_response_minutes BETWEEN 1 AND {MAX_TARGET_MINUTES} "
            f"AND resolution_minutes BETWEEN 1 AND {MAX_TARGET_MINUTES}",
            name="targets",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    priority: Mapped[str] = mapped_column(String(10))
    customer_tag: Mapped[str] = mapped_column(String(40), default="")
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    # False: the clock runs around the clock (urgent work); True: only in business hours.
    business_hours: Mapped[bool] = mapped_column(Boolean, default=True)


class SlaEscalation(Audited, TenantMixin, db.Model):
    """One escalation point of one ticket's deadline, and the log of what happened at it.

    The unique key (ticket, target, level, due_at) makes each level fire once per due time.
    """

    __tablename__ = "sla_escalations"
    __table_args__ = (
        Index(
            "uq_sla_escalations_point",
            "organization_id",
            "ticket_id",
            "target",
            "level",
            "due_at",
            unique=True,
        ),
        # The sweep, across organizations: pending points by when they fire.
        Index("ix_sla_escalations_pending", "fire_at", postgresql_where=text("status = 'pending'")),
        # The escalation log, newest first.
        Index(
            "ix_sla_escalations_log",
            "organization_id",
            "id",
            postgresql_where=text("status IN ('fired', 'skipped')"),
        ),
        CheckConstraint(_in("target", TARGETS), name="target"),
        CheckConstraint(_in("status", ESCALATION_STATUSES), name="status"),
        CheckConstraint(f"level BETWEEN 1 AND {BREACH_LEVEL}", name="level"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(20))
    # The share of the target used when it fires, in percent: 100 is the breach.
    level: Mapped[int] = mapped_column(SmallInteger)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fire_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # When a message for it was last handed to the broker (the sweep re-sends stale ones).
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def is_breach(self) -> bool:
        return self.level >= BREACH_LEVEL

    @property
    def label(self) -> str:
        """The point as people read it: "first response breached", "resolution 80% used"."""
        used = percent(self.level)
        if self.target == "first_response":
            if self.is_breach:
                return _("first response breached")
            return _("first response %(percent)s used", percent=used)
        if self.is_breach:
            return _("resolution breached")
        return _("resolution %(percent)s used", percent=used)


RECOMPUTE_STATUSES = ("running", "done")


class SlaRecompute(db.Model):
    """The background recompute of an organization's open tickets after a policy or calendar
    change that applies to many of them: one row per organization, its progress read by the
    settings page. Each change that starts one bumps the generation, and a run stops as soon
    as it sees a newer one (the change superseded it)."""

    __tablename__ = "sla_recomputes"
    __table_args__ = (CheckConstraint(_in("status", RECOMPUTE_STATUSES), name="status"),)

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    generation: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="done")
    # The priorities whose tickets it recomputes; NULL: every priority.
    priorities: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    # The keyset cursor: tickets up to this id are done (the chunks go in id order).
    last_ticket_id: Mapped[int] = mapped_column(BigInteger, default=0)
    # Whose change it follows: the job's writes are audited under their name.
    requested_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Moves with every chunk; a running job that stopped moving is sent again by the sweep.
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def progress(self) -> int:
        """Tickets done, never shown above the total (tickets opened meanwhile count too)."""
        return min(self.done, self.total)


# The queue's sort by deadline, over active tickets only (see TicketSlaColumns.sla_due_sort):
# all of them, and per view or filter (assignee, unassigned, team, priority), each in the
# keyset's exact order so a page is one index range.
Index(
    "ix_tickets_org_sla_due",
    Ticket.organization_id,
    Ticket.sla_due_sort,
    Ticket.id,
    postgresql_where=text(ACTIVE_PREDICATE),
)
for _name, _column in (
    ("ix_tickets_org_assignee_sla_due", Ticket.assignee_id),
    ("ix_tickets_org_team_sla_due", Ticket.department),
    ("ix_tickets_org_priority_sla_due", Ticket.priority),
):
    Index(
        _name,
        Ticket.organization_id,
        _column,
        Ticket.sla_due_sort,
        Ticket.id,
        postgresql_where=text(ACTIVE_PREDICATE),
    )
# The SLA dashboard reads tickets by the week they were created, and by the week resolved.
Index("ix_tickets_org_created", Ticket.organization_id, Ticket.created_at)
Index(
    "ix_tickets_org_resolved",
    Ticket.organization_id,
    Ticket.resolved_at,
    postgresql_where=Ticket.resolved_at.is_not(None),
)
