"""Support tickets (seed 004's support_tickets), their thread, attachments and routing state."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    and_,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_web.customers.models import Customer
from crm_web.customers.services import register_customer_reference
from crm_web.extensions import db
from crm_web.models_base import TenantMixin, TimestampMixin
from crm_web.privacy.audit import Audited
from crm_web.sla.ticket_columns import TicketSlaColumns

CHANNELS = ("email", "phone", "web", "api")
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "in_progress", "waiting_on_customer", "resolved", "closed")
# Statuses an agent still has to work: they count towards the agent's load and fill the queue.
ACTIVE_STATUSES = ("new", "open", "in_progress", "waiting_on_customer")
TICKET_TYPES = (
    "question",
    "incident",
    "problem",
    "bug_report",
    "feature_request",
    "billing_issue",
    "account_issue",
)
CATEGORIES = ("general", "technical", "billing", "account", "sales")
MESSAGE_KINDS = ("reply", "note", "event")
DEFAULT_AGENT_CAP = 10
# A customer is a VIP when tagged so: routing makes their tickets urgent.
VIP_TAG = "vip"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


ACTIVE_PREDICATE = _in("status", ACTIVE_STATUSES)


def ticket_reference(number: int) -> str:
    """How people name a ticket: T-1042."""
    return f"T-{number}"


class Ticket(TicketSlaColumns, Audited, TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("uq_tickets_org_number", "organization_id", "number", unique=True),
        Index("ix_tickets_org_id", "organization_id", "id"),
        # The live queue's "did anything change?" is max(updated_at): one index probe.
        Index("ix_tickets_org_updated", "organization_id", "updated_at"),
        # Agent load for routing and "my tickets": one index range per (org, agent).
        Index("ix_tickets_org_assignee_status", "organization_id", "assignee_id", "status"),
        Index("ix_tickets_org_customer", "organization_id", "customer_id", "id"),
        # The queue reads only active tickets; resolved history does not bloat its index.
        Index(
            "ix_tickets_org_active",
            "organization_id",
            "id",
            postgresql_where=text(ACTIVE_PREDICATE),
        ),
        # The queue's search (the folded subject LIKE '%...%') and tag filter (tags @> ...), read
        # through ticket_search_page (see TICKET_SEARCH_KEYS): under row-level security neither
        # could. Migration 0026 builds the search one on crm_fold(subject) gin_trgm_ops.
        Index(
            "ix_tickets_active_subject_trgm",
            "organization_id",
            text("crm_fold(subject)"),
            postgresql_using="gin",
            postgresql_where=text(ACTIVE_PREDICATE),
        ),
        Index(
            "ix_tickets_active_tags",
            "organization_id",
            "tags",
            postgresql_using="gin",
            postgresql_where=text(ACTIVE_PREDICATE),
        ),
        # The breach rate's deadlines passed on tickets still open, from the index alone (0039).
        Index(
            "ix_tickets_active_late",
            "organization_id",
            "sla_due_at",
            postgresql_include=["created_at", "first_response_breached", "resolution_breached"],
            postgresql_where=text(ACTIVE_PREDICATE),
        ),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("priority", PRIORITIES), name="priority"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint("csat_rating BETWEEN 1 AND 5", name="csat_rating"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(10), default="web")
    category: Mapped[str] = mapped_column(String(50), default="general")
    ticket_type: Mapped[str] = mapped_column(String(30), default="question")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(20), default="new")
    assignee_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    # The team: matched against users.department by routing and the team queue.
    department: Mapped[str] = mapped_column(String(100), default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    routing_reason: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    csat_rating: Mapped[int | None] = mapped_column(SmallInteger)
    csat_comment: Mapped[str] = mapped_column(Text, default="")
    csat_submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    customer = relationship("Customer", lazy="raise")
    assignee = relationship("User", foreign_keys=[assignee_id], lazy="raise")

    @property
    def reference(self) -> str:
        return ticket_reference(self.number)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


# The queue picks a page of ids through the ticket_search_page function (migration 0023, see
# create_tenant_search_function in migrations/helpers.py), with these sort keys, then reads those tickets
# by primary key: through RLS, the search's ILIKE and the tag filter's @> would be applied to
# every active ticket instead of using their trigram and GIN indexes.
TICKET_SEARCH_KEYS = (column("id", BigInteger), column("sla_due_sort", DateTime(timezone=True)))


# A ticket joined to its customer (both keys, so the join stays within the organization).
TICKET_CUSTOMER = and_(
    Customer.organization_id == Ticket.organization_id, Customer.id == Ticket.customer_id
)

# Tickets from the web form, email and the API find their customer by address: one index probe
# per organization instead of a scan of a million customers.
Index("ix_customers_org_email_lower", Customer.organization_id, func.lower(Customer.primary_email))


class TicketMessage(Audited, TenantMixin, db.Model):
    """One entry of a ticket's thread: a public reply, an internal note or a system event."""

    __tablename__ = "ticket_messages"
    __table_args__ = (
        Index("ix_ticket_messages_thread", "organization_id", "ticket_id", "id"),
        CheckConstraint(_in("kind", MESSAGE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    author_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    author_customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text, default="")
    # A system event's facts, e.g. {"event": "status", "from": "new", "to": "open"}.
    data: Mapped[dict] = mapped_column(JSONB, default=dict)
    # For replies to the customer: "" (inbound), queued, sent or failed.
    email_status: Mapped[str] = mapped_column(String(10), default="")
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    communication_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("communications.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    attachments = relationship(
        "TicketAttachment", lazy="raise", order_by="TicketAttachment.id", viewonly=True
    )


class TicketAttachment(Audited, TenantMixin, db.Model):
    """A file attached to a thread message; the bytes live under instance/, named by storage_key."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (Index("ix_ticket_attachments_message", "organization_id", "message_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ticket_messages.id", ondelete="CASCADE")
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TicketSettings(Audited, db.Model):
    """Per-organization support settings; an organization without a row uses the defaults."""

    __tablename__ = "ticket_settings"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    agent_ticket_cap: Mapped[int] = mapped_column(Integer, default=DEFAULT_AGENT_CAP)

    @property
    def audit_organization_id(self) -> int:
        return self.organization_id


class TicketAgentState(db.Model):
    """When routing last gave an agent a ticket: the round-robin order among equally loaded agents."""

    __tablename__ = "ticket_agent_states"

    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Merging two customers moves their tickets and the messages they wrote (see customers.services).
register_customer_reference("tickets")
register_customer_reference("ticket_messages", "author_customer_id")
