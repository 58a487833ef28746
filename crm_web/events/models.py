"""Events and their attendees (seed 000's etkinlikler and etkinlikmusteri)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited


class Event(Audited, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_org_starts", "organization_id", "starts_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    location: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )


class EventAttendee(Audited, TenantMixin, db.Model):
    """A customer registered for an event; `attended_at` is set when they came."""

    __tablename__ = "event_attendees"
    __table_args__ = (
        Index(
            "uq_event_attendees_event_customer",
            "organization_id",
            "event_id",
            "customer_id",
            unique=True,
        ),
        # The event page lists attendees in registration order.
        Index("ix_event_attendees_event_order", "organization_id", "event_id", "id"),
        # The customer timeline: registrations, and attendances (only rows that have one).
        Index(
            "ix_event_attendees_customer_registered",
            "organization_id",
            "customer_id",
            "registered_at",
            "id",
        ),
        Index(
            "ix_event_attendees_customer_attended",
            "organization_id",
            "customer_id",
            "attended_at",
            "id",
            postgresql_where=text("attended_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    registered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    attended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registered_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )


register_customer_reference("event_attendees", unique_with=("event_id",))
