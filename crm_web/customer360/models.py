"""What the 360 view adds to a customer: notes, campaign preferences and documents."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from crm_web import labels
from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

# Seed 000's musteritercihleri: the kinds of campaign a customer wants to hear about.
CAMPAIGN_TYPES = labels.CAMPAIGN_TYPE
DOCUMENT_CATEGORIES = labels.DOCUMENT_CATEGORY


class CustomerNote(Audited, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "customer_notes"
    __table_args__ = (
        # The 360 page and its timeline read a customer's notes newest first.
        Index(
            "ix_customer_notes_customer_timeline",
            "organization_id",
            "customer_id",
            "created_at",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )


class CampaignPreference(Audited, TenantMixin, db.Model):
    """One campaign type a customer wants (a row present means yes)."""

    __tablename__ = "customer_campaign_preferences"
    __table_args__ = (
        Index(
            "uq_customer_campaign_preferences_customer_type",
            "organization_id",
            "customer_id",
            "campaign_type",
            unique=True,
        ),
        # Campaign fan-out: everyone in the organization who wants this type.
        Index(
            "ix_customer_campaign_preferences_type",
            "organization_id",
            "campaign_type",
            "customer_id",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    campaign_type: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerDocument(Audited, TenantMixin, db.Model):
    """A contract, quote or invoice; the bytes live in crm_web.storage under `storage_key`."""

    __tablename__ = "customer_documents"
    __table_args__ = (
        Index(
            "ix_customer_documents_customer_timeline",
            "organization_id",
            "customer_id",
            "created_at",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    category: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


register_customer_reference("customer_notes")
register_customer_reference("customer_campaign_preferences", unique_with=("campaign_type",))
register_customer_reference("customer_documents")
