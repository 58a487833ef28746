"""Customers (seed 001's Customer, with owner, lifecycle and consent) and their consent history."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_web.accounts.models import User
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited

CUSTOMER_TYPES = ("person", "company")
LIFECYCLE_STAGES = ("subscriber", "lead", "opportunity", "customer", "loyal", "champion", "churned")
GENDERS = ("", "F", "M", "O")
COMPANY_SIZES = ("", "1-10", "11-50", "51-200", "201-1000", "1000+")
CONSENT_CHANNELS = ("email", "sms", "all")
CONSENT_SOURCES = ("form", "import", "api", "unsubscribe", "merge", "bulk", "sms_keyword")

# Search folds case and the Turkish letters with the database's crm_fold() (migration 0026),
# so "sahin" finds "Şahin" and "istanbul" finds "İSTANBUL"; the query is folded by the same
# function (see services.search_pattern), so both sides always agree.
SEARCH_TEXT_SQL = (
    "crm_fold(customer_code || ' ' || first_name || ' ' || last_name || ' ' || "
    "company_name || ' ' || primary_email || ' ' || secondary_email || ' ' || "
    "primary_phone || ' ' || secondary_phone)"
)
SORT_NAME_SQL = (
    "lower(CASE WHEN customer_type = 'company' AND company_name <> '' THEN company_name "
    "ELSE btrim(first_name || ' ' || last_name) END)"
)


def display_name(customer_type: str, company_name: str, first_name: str, last_name: str) -> str:
    """How a customer is named on screen (for lists that read the columns, not the model)."""
    person = " ".join(part for part in (first_name, last_name) if part)
    return company_name if customer_type == "company" and company_name else person


class Customer(Audited, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "customers"
    # Generated columns are derived data: the audit trail shows the fields they come from.
    audit_hidden = frozenset({"search_text", "sort_name"})
    __table_args__ = (
        CheckConstraint(f"customer_type IN {CUSTOMER_TYPES}", name="type_known"),
        CheckConstraint(f"lifecycle_stage IN {LIFECYCLE_STAGES}", name="lifecycle_known"),
        Index("uq_customers_org_code", "organization_id", "customer_code", unique=True),
        # Each list sort has its keyset index; the filters that can be very selective
        # (owner, city, lifecycle) have one in the default (newest first) order, and city,
        # the one with thousands of values, one in name order too: without them the planner
        # may walk the whole sort index looking for a value that is rare or absent.
        Index("ix_customers_org_id", "organization_id", "id"),
        Index("ix_customers_org_active", "organization_id", "is_active"),
        Index("ix_customers_org_sort_name", "organization_id", "sort_name", "id"),
        Index("ix_customers_org_updated", "organization_id", "updated_at", "id"),
        Index("ix_customers_org_owner", "organization_id", "owner_id", "id"),
        Index("ix_customers_org_lifecycle", "organization_id", "lifecycle_stage", "id"),
        Index("ix_customers_org_city", "organization_id", text("crm_fold(city)"), "id"),
        Index(
            "ix_customers_org_city_name",
            "organization_id",
            text("crm_fold(city)"),
            "sort_name",
            "id",
        ),
        # The daily birthday run finds the day's birthdays by their dates (automations).
        Index(
            "ix_customers_org_birth_date",
            "organization_id",
            "birth_date",
            postgresql_where=text("birth_date IS NOT NULL"),
        ),
        Index("ix_customers_tags", "tags", postgresql_using="gin"),
        Index(
            "ix_customers_search",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # Duplicate warnings and the import's dedupe look customers up by email and phone.
        Index(
            "ix_customers_org_email",
            "organization_id",
            "primary_email",
            postgresql_where=text("primary_email <> ''"),
        ),
        Index(
            "ix_customers_org_phone",
            "organization_id",
            "primary_phone",
            postgresql_where=text("primary_phone <> ''"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(20))
    customer_type: Mapped[str] = mapped_column(String(20), default="person")
    title: Mapped[str] = mapped_column(String(10), default="")
    first_name: Mapped[str] = mapped_column(String(50), default="")
    last_name: Mapped[str] = mapped_column(String(50), default="")
    company_name: Mapped[str] = mapped_column(String(100), default="")
    # With the title, names, email and phone: a company customer's contact person.
    job_title: Mapped[str] = mapped_column(String(100), default="", server_default="")
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
    address: Mapped[str] = mapped_column(String(200), default="", server_default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    # What we send them is written in this language; "" follows the organization's.
    language: Mapped[str] = mapped_column(String(5), default="", server_default="")
    email_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    sms_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    search_text: Mapped[str] = mapped_column(Text, Computed(SEARCH_TEXT_SQL, persisted=True))
    sort_name: Mapped[str] = mapped_column(Text, Computed(SORT_NAME_SQL, persisted=True))

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])

    @property
    def display_name(self) -> str:
        return display_name(self.customer_type, self.company_name, self.first_name, self.last_name)


class ConsentEvent(Audited, TenantMixin, db.Model):
    """One change of a customer's consent: who, when, through what (append-only)."""

    __tablename__ = "customer_consent_events"
    __table_args__ = (
        Index(
            "ix_customer_consent_events_customer",
            "organization_id",
            "customer_id",
            "created_at",
            "id",
        ),
        # Audience growth: a month's opt-ins and unsubscribes per channel (0033).
        Index(
            "ix_customer_consent_events_org_channel",
            "organization_id",
            "channel",
            "created_at",
        ),
        CheckConstraint(f"channel IN {CONSENT_CHANNELS}", name="channel_known"),
        CheckConstraint(f"source IN {CONSENT_SOURCES}", name="source_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    # email = email_opt_in, sms = sms_opt_in, all = do_not_contact.
    channel: Mapped[str] = mapped_column(String(10))
    old_value: Mapped[bool | None] = mapped_column(Boolean)
    new_value: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# The list searches, filters and sorts through the customer_search_page function (migration
# 0023, see create_tenant_search_function in
# migrations/helpers.py): through RLS, trigram, array and
# lower(city) conditions could not use their indexes. It returns a page of ids with these sort
# keys; the customers are then read by primary key.
CUSTOMER_SEARCH_KEYS = (
    column("id", BigInteger),
    column("sort_name", Text),
    column("updated_at", DateTime(timezone=True)),
)
