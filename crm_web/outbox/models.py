"""Outbound messages and the addresses a hard bounce ruled out."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db

CHANNELS = ("email", "sms")
# queued → claimed → sent | failed | suppressed | cancelled; a retry puts it back to queued.
STATUSES = ("queued", "claimed", "sent", "failed", "suppressed", "cancelled")
FINAL_STATUSES = ("sent", "failed", "suppressed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class OutboxMessage(db.Model):
    """One email or SMS to one recipient, written in the transaction that decided to send it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index(
            "uq_outbox_messages_dedupe_key",
            "organization_id",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL"),
        ),
        Index(
            "ix_outbox_messages_queued",
            "organization_id",
            "channel",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'queued'"),
        ),
        Index(
            "ix_outbox_messages_leases",
            "lease_expires_at",
            postgresql_where=text("status = 'claimed'"),
        ),
        Index("ix_outbox_messages_source", "organization_id", "kind", "source_id"),
        Index("ix_outbox_messages_recent", "organization_id", "updated_at"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("status", STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Tenant rows (row-level security); no index of its own: every index here leads with it.
    # None for the system's own messages (a sign-up link, before any organization exists).
    organization_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(5))
    kind: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    context: Mapped[dict] = mapped_column(JSONB, server_default="{}", default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="SET NULL")
    )
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    to_address: Mapped[str] = mapped_column(String(320))
    to_name: Mapped[str] = mapped_column(String(200), server_default="", default="")
    language: Mapped[str] = mapped_column(String(10), server_default="", default="")
    status: Mapped[str] = mapped_column(String(10), server_default="queued", default="queued")
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0", default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str] = mapped_column(String(250))
    provider_id: Mapped[str] = mapped_column(String(200), server_default="", default="")
    delivery_status: Mapped[str] = mapped_column(String(20), server_default="", default="")
    segments: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str] = mapped_column(String(1000), server_default="", default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Merging two customers moves what was sent to either onto the one that stays.
register_customer_reference("outbox_messages")


class Suppression(db.Model):
    """An address no message of this organization goes to any more (it bounced hard)."""

    __tablename__ = "suppressions"
    __table_args__ = (
        Index(
            "uq_suppressions_address",
            "organization_id",
            "channel",
            text("lower(address)"),
            unique=True,
        ),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(5))
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(1000))
    outbox_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
