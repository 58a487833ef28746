"""Automations (journeys): a trigger and a tree of steps; enrollments of customers walking it;
one row per step run; an organization's holiday calendar."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

STATUSES = ("draft", "active", "paused")
ENROLLMENT_STATES = ("active", "completed", "exited")


class Automation(Audited, TenantMixin, TimestampMixin, db.Model):
    """A journey: what enrolls a customer (trigger), what happens next (steps), what ends it
    early (goal). `steps` is a list of {"id", "type", ...}; a branch holds "yes" and "no" lists."""

    __tablename__ = "automations"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'active', 'paused')", name="status_known"),
        CheckConstraint("reentry IN ('once', 'yearly', 'every')", name="reentry_known"),
        Index("ix_automations_org_status", "organization_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    trigger_kind: Mapped[str] = mapped_column(String(30))
    trigger_config: Mapped[dict] = mapped_column(JSONB, default=dict)
    steps: Mapped[list] = mapped_column(JSONB, default=list)
    goal: Mapped[dict] = mapped_column(JSONB, default=dict)
    reentry: Mapped[str] = mapped_column(String(10), default="once")
    # Date triggers enroll at this local hour of the customer (or the organization).
    send_hour: Mapped[int] = mapped_column(Integer, default=9)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    # Events before the first activation never enroll anyone (no backfill of old history).
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )


class Enrollment(TenantMixin, db.Model):
    """A customer on a journey, once per occurrence (the birthday of one year, one won deal):
    the unique index is the guard a retried job or a second scheduler runs into."""

    __tablename__ = "automation_enrollments"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'completed', 'exited')", name="state_known"),
        Index(
            "uq_automation_enrollments_occurrence",
            "organization_id",
            "automation_id",
            "customer_id",
            "occurrence",
            unique=True,
        ),
        # The runner takes due enrollments in (next_run_at, id) order, a batch at a time.
        Index(
            "ix_automation_enrollments_due",
            "organization_id",
            "next_run_at",
            "id",
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_automation_enrollments_automation", "organization_id", "automation_id", "id"),
        Index("ix_automation_enrollments_customer", "organization_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    automation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("automations.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    occurrence: Mapped[str] = mapped_column(String(64))
    # The next step to run (None once finished) and when.
    step_id: Mapped[str | None] = mapped_column(String(16))
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(10), default="active")
    exited_reason: Mapped[str] = mapped_column(String(20), default="")
    goal_reached: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last message step's run, for "opened / clicked the previous message".
    last_message_run_id: Mapped[int | None] = mapped_column(BigInteger)
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StepRun(TenantMixin, db.Model):
    """One step run for one enrollment: a step runs once per enrollment (unique), and what the
    customer did with its message (if any: the outbox row whose source is this run)."""

    __tablename__ = "automation_step_runs"
    __table_args__ = (
        Index(
            "uq_automation_step_runs_step",
            "organization_id",
            "enrollment_id",
            "step_id",
            unique=True,
        ),
        Index("ix_automation_step_runs_automation", "organization_id", "automation_id", "step_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    automation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("automations.id", ondelete="CASCADE")
    )
    enrollment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("automation_enrollments.id", ondelete="CASCADE")
    )
    step_id: Mapped[str] = mapped_column(String(16))
    step_type: Mapped[str] = mapped_column(String(10))
    # done | sent | skipped (no consent, no address) | yes | no
    outcome: Mapped[str] = mapped_column(String(10))
    ran_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clicked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Holiday(Audited, TenantMixin, db.Model):
    """A day of the organization's holiday calendar (prefilled from the `holidays` package)."""

    __tablename__ = "organization_holidays"
    __table_args__ = (Index("uq_organization_holidays_day", "organization_id", "day", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


register_customer_reference("automation_enrollments", unique_with=("automation_id", "occurrence"))
