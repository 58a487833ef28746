"""Customers (seed 001's Customer, with owner, lifecycle and consent)."""

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Numeric, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

CUSTOMER_TYPES = ("person", "company")
LIFECYCLE_STAGES = ("subscriber", "lead", "opportunity", "customer", "loyal", "champion", "churned")
GENDERS = ("", "F", "M", "O")
COMPANY_SIZES = ("", "1-10", "11-50", "51-200", "201-1000", "1000+")


class Customer(Audited, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "customers"
    __table_args__ = (
        Index("uq_customers_org_code", "organization_id", "customer_code", unique=True),
        Index("ix_customers_org_id", "organization_id", "id"),
        Index("ix_customers_org_active", "organization_id", "is_active"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(20))
    customer_type: Mapped[str] = mapped_column(String(20), default="person")
    title: Mapped[str] = mapped_column(String(10), default="")
    first_name: Mapped[str] = mapped_column(String(50), default="")
    last_name: Mapped[str] = mapped_column(String(50), default="")
    company_name: Mapped[str] = mapped_column(String(100), default="")
    tax_number: Mapped[str] = mapped_column(String(11), default="")
    tax_office: Mapped[str] = mapped_column(String(50), default="")
    identity_number: Mapped[str] = mapped_column(String(11), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(1), default="")
    primary_email: Mapped[str] = mapped_column(String(254), default="")
    secondary_email: Mapped[str] = mapped_column(String(254), default="")
    primary_phone: Mapped[str] = mapped_column(String(20), default="")
    secondary_phone: Mapped[str] = mapped_column(String(20), default="")
    website: Mapped[str] = mapped_column(String(200), default="")
    industry: Mapped[str] = mapped_column(String(50), default="")
    company_size: Mapped[str] = mapped_column(String(20), default="")
    annual_revenue: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))
    lead_source: Mapped[str] = mapped_column(String(50), default="")
    customer_since: Mapped[date] = mapped_column(Date, server_default=func.current_date())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="lead")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    email_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    sms_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def display_name(self) -> str:
        person = " ".join(part for part in (self.first_name, self.last_name) if part)
        return (
            self.company_name if self.customer_type == "company" and self.company_name else person
        )
