"""The approvals inbox: the quotes waiting for a manager, oldest first (decided with
quotes.review_quote)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, func, select

from crm_web.accounts.models import User
from crm_web.customers.models import Customer, display_name
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.pagination import Page, keyset_page
from crm_web.pipeline.models import Opportunity, Quote

PENDING = "pending_approval"


def pending_count() -> int:
    """How many quotes wait for approval (the navigation's badge; ix_quotes_org_status)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Quote)
        .where(
            Quote.organization_id == current_organization_id(),
            Quote.status == PENDING,
            Quote.is_current,
        )
    )


@dataclass(frozen=True, slots=True)
class InboxQuote:
    """What the inbox shows of a quote."""

    id: int
    quote_number: str
    version: int
    title: str
    status: str
    total: Decimal
    currency: str
    waiting_since: datetime
    opportunity_id: int
    opportunity_name: str
    customer_name: str
    created_by_name: str


def _inbox_rows() -> Select:
    return (
        select(
            Quote.id,
            Quote.quote_number,
            Quote.version,
            Quote.title,
            Quote.status,
            Quote.total,
            Quote.currency,
            Quote.updated_at,
            Opportunity.id.label("opportunity_id"),
            Opportunity.name.label("opportunity_name"),
            Customer.customer_type,
            Customer.company_name,
            Customer.first_name,
            Customer.last_name,
            User.name.label("created_by_name"),
        )
        .join(Opportunity, Opportunity.id == Quote.opportunity_id)
        .join(Customer, Customer.id == Opportunity.customer_id)
        .outerjoin(User, User.id == Quote.created_by_id)
        .where(Quote.organization_id == current_organization_id(), Quote.is_current)
    )


def _inbox_quote(row) -> InboxQuote:
    return InboxQuote(
        id=row.id,
        quote_number=row.quote_number,
        version=row.version,
        title=row.title,
        status=row.status,
        total=row.total,
        currency=row.currency,
        waiting_since=row.updated_at,
        opportunity_id=row.opportunity_id,
        opportunity_name=row.opportunity_name,
        customer_name=display_name(
            row.customer_type, row.company_name, row.first_name, row.last_name
        ),
        created_by_name=row.created_by_name or "",
    )


def pending_quotes(cursor: str | None = None, limit: int = 50) -> Page:
    """A keyset page of the quotes waiting for approval, the longest waiting first."""
    stmt = _inbox_rows().where(Quote.status == PENDING)
    page = keyset_page(stmt, (Quote.id,), cursor=cursor, limit=limit, descending=False)
    page.items = [_inbox_quote(row) for row in page.items]
    return page


def inbox_quote(quote_id: int) -> InboxQuote | None:
    """One current quote as the inbox shows it, whatever its status (None if there is none)."""
    row = db.session.execute(_inbox_rows().where(Quote.id == quote_id)).one_or_none()
    return _inbox_quote(row) if row else None
