"""The communication log (seed 001's CommunicationLog): every call, meeting, email and SMS with a customer."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin
from crm_web.privacy.audit import Audited

COMMUNICATION_TYPES = ("call", "meeting", "email", "sms")
DIRECTIONS = ("inbound", "outbound")
STATUSES = (
    "logged",
    "queued",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "received",
    "failed",
    "bounced",
)


class Communication(Audited, TenantMixin, db.Model):
    __tablename__ = "communications"
    __table_args__ = (
        # The customer timeline reads newest first by (created_at, id).
        Index(
            "ix_communications_customer_timeline",
            "organization_id",
            "customer_id",
            "created_at",
            "id",
        ),
        Index("ix_communications_source", "organization_id", "source_type", "source_id"),
        # Reports read a period's interactions (0033).
        Index("ix_communications_org_created", "organization_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    communication_type: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(String(254), default="")
    recipient: Mapped[str] = mapped_column(String(254), default="")
    status: Mapped[str] = mapped_column(String(20), default="logged")
    outcome: Mapped[str] = mapped_column(String(200), default="")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    delivery_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clicked_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_message_id: Mapped[str] = mapped_column(String(200), default="")
    # What produced it when not a person: ("ticket", 42), ("campaign", 7), ...
    source_type: Mapped[str] = mapped_column(String(30), default="")
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    attachments: Mapped[list] = mapped_column(JSONB, default=list)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


register_customer_reference("communications")
