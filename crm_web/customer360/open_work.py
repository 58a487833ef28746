"""What is open with a customer: deals, tickets and activities, for the 360 page and its API.

Each section is one query, whatever the customer has: the first rows (by what comes next:
close date, SLA deadline, due time) with the section's totals computed over every matching
row by window functions, so the cards count all of them while the lists stay short. Each
reads one index range on (organization_id, customer_id, ...).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, select

from crm_web.accounts.models import User
from crm_web.activities.models import OPEN_STATUSES, Activity
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.pipeline.models import Opportunity, PipelineStage
from crm_web.sla.ticket_columns import clock_paused
from crm_web.tickets.models import ACTIVE_STATUSES, Ticket, ticket_reference

# How many rows each section lists; the counts cover all of them.
SECTION_LIMIT = 10


@dataclass(frozen=True)
class OpenDeal:
    id: int
    number: str
    name: str
    stage: str
    probability: Decimal
    amount: Decimal
    currency: str
    expected_close_date: dt.date
    owner_name: str


@dataclass(frozen=True)
class OpenTicket:
    id: int
    reference: str
    subject: str
    status: str
    priority: str
    assignee_name: str
    sla_due_at: dt.datetime | None
    # Read by tickets.queue.due_state, as a queue row's.
    sla_paused: bool


@dataclass(frozen=True)
class UpcomingActivity:
    id: int
    activity_type: str
    subject: str
    status: str
    due_at: dt.datetime
    assignee_name: str


@dataclass(frozen=True)
class Section:
    """The first rows of a section and how many there are in all."""

    rows: list
    total: int


@dataclass(frozen=True)
class OpenWork:
    deals: Section
    # The open deals' total amount; None when they are in more than one currency.
    pipeline_amount: Decimal | None
    pipeline_currency: str
    tickets: Section
    activities: Section


def _assignee(user_id_column):
    return and_(User.organization_id == current_organization_id(), User.id == user_id_column)


def open_deals(customer_id: int, limit: int = SECTION_LIMIT) -> tuple[Section, Decimal | None, str]:
    """The customer's open deals, soonest expected close first, with their count and total."""
    rows = db.session.execute(
        select(
            Opportunity.id,
            Opportunity.opportunity_number,
            Opportunity.name,
            PipelineStage.name.label("stage"),
            Opportunity.probability,
            Opportunity.amount,
            Opportunity.currency,
            Opportunity.expected_close_date,
            User.name.label("owner_name"),
            func.count().over().label("total"),
            func.sum(Opportunity.amount).over().label("total_amount"),
            # One currency among them when the smallest and the largest code agree.
            func.min(Opportunity.currency).over().label("min_currency"),
            func.max(Opportunity.currency).over().label("max_currency"),
        )
        .join(PipelineStage, PipelineStage.id == Opportunity.stage_id)
        .outerjoin(User, _assignee(Opportunity.owner_id))
        .where(
            Opportunity.organization_id == current_organization_id(),
            Opportunity.customer_id == customer_id,
            Opportunity.status == "open",
        )
        .order_by(Opportunity.expected_close_date, Opportunity.id)
        .limit(limit)
    ).all()
    deals = [
        OpenDeal(
            id=row.id,
            number=row.opportunity_number,
            name=row.name,
            stage=row.stage,
            probability=row.probability,
            amount=row.amount,
            currency=row.currency,
            expected_close_date=row.expected_close_date,
            owner_name=row.owner_name or "",
        )
        for row in rows
    ]
    if not rows:
        return Section([], 0), Decimal("0"), ""
    first = rows[0]
    single_currency = first.min_currency == first.max_currency
    return (
        Section(deals, first.total),
        first.total_amount if single_currency else None,
        first.min_currency if single_currency else "",
    )


def open_tickets(customer_id: int, limit: int = SECTION_LIMIT) -> Section:
    """The customer's tickets still being worked, nearest SLA deadline first."""
    rows = db.session.execute(
        select(
            Ticket.id,
            Ticket.number,
            Ticket.subject,
            Ticket.status,
            Ticket.priority,
            Ticket.sla_due_at,
            Ticket.sla_clock_started_at,
            User.name.label("assignee_name"),
            func.count().over().label("total"),
        )
        .outerjoin(User, _assignee(Ticket.assignee_id))
        .where(
            Ticket.organization_id == current_organization_id(),
            Ticket.customer_id == customer_id,
            Ticket.status.in_(ACTIVE_STATUSES),
        )
        .order_by(Ticket.sla_due_sort, Ticket.id)
        .limit(limit)
    ).all()
    tickets = [
        OpenTicket(
            id=row.id,
            reference=ticket_reference(row.number),
            subject=row.subject,
            status=row.status,
            priority=row.priority,
            assignee_name=row.assignee_name or "",
            sla_due_at=row.sla_due_at,
            sla_paused=clock_paused(row.status, row.sla_clock_started_at),
        )
        for row in rows
    ]
    return Section(tickets, rows[0].total if rows else 0)


def upcoming_activities(customer_id: int, limit: int = SECTION_LIMIT) -> Section:
    """The customer's planned and ongoing activities (those overdue first), by due time."""
    rows = db.session.execute(
        select(
            Activity.id,
            Activity.activity_type,
            Activity.subject,
            Activity.status,
            Activity.due_at,
            User.name.label("assignee_name"),
            func.count().over().label("total"),
        )
        .outerjoin(User, _assignee(Activity.assigned_to_id))
        .where(
            Activity.organization_id == current_organization_id(),
            Activity.customer_id == customer_id,
            Activity.status.in_(OPEN_STATUSES),
        )
        .order_by(Activity.due_at, Activity.id)
        .limit(limit)
    ).all()
    activities = [
        UpcomingActivity(
            id=row.id,
            activity_type=row.activity_type,
            subject=row.subject,
            status=row.status,
            due_at=row.due_at,
            assignee_name=row.assignee_name or "",
        )
        for row in rows
    ]
    return Section(activities, rows[0].total if rows else 0)


def customer_open_work(customer_id: int) -> OpenWork:
    """The customer's open deals, tickets and activities: three queries."""
    deals, amount, currency = open_deals(customer_id)
    return OpenWork(
        deals=deals,
        pipeline_amount=amount,
        pipeline_currency=currency,
        tickets=open_tickets(customer_id),
        activities=upcoming_activities(customer_id),
    )
