"""Operational state shared by all organizations: scheduler ticks and failed jobs."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.extensions import db


class ScheduledJob(db.Model):
    """One periodic job; claiming its next slot is a conditional UPDATE, so two schedulers never both run it."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    interval_seconds: Mapped[int]
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_by: Mapped[str] = mapped_column(String(200), default="")
    run_count: Mapped[int] = mapped_column(BigInteger, default=0)


class FailedJob(db.Model):
    """A worker message that exhausted its retries."""

    __tablename__ = "failed_jobs"
    __table_args__ = (Index("ix_failed_jobs_organization_id_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # None for the system's own jobs (sweeps across organizations).
    organization_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    queue_name: Mapped[str] = mapped_column(String(100))
    actor_name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list] = mapped_column(JSONB, default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
