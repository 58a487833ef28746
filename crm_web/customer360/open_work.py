"""What is open with a customer: deals, tickets and activities, for the 360 page and its API.

Each section is one query, whatever the customer has: the first rows (by what comes next:
close date, SLA deadline, due time) with the section's totals computed over every matching
row by window functions, so the cards count all of them while the lists stay short. Each
reads one index range on (organization_id, customer_id, ...). A row's fields are named as the
API shows them.
"""

import dataclasses
import datetime as dt
from collections.abc import Callable
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
    opportunity_number: str
    name: str
    stage: str
    probability: Decimal
    amount: Decimal
    currency: str
    expected_close_date: dt.date
    owner: str | None


@dataclass(frozen=True)
class OpenTicket:
    id: int
    reference: str
    subject: str
    status: str
    priority: str
    assignee: str | None
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
    assigned_to: str | None


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


def _first_open(model, customer_id: int, is_open, person_id, *columns, order_by, joins=()):
    """The customer's first rows of `model` that are still open: `columns`, `person` (the name
    of the user `person_id` names) and `total` (how many there are in all)."""
    stmt = select(
        *columns, User.name.label("person"), func.count().over().label("total")
    ).select_from(model)
    for target, on in joins:
        stmt = stmt.join(target, on)
    return db.session.execute(
        stmt.outerjoin(
            User, and_(User.organization_id == model.organization_id, User.id == person_id)
        )
        .where(
            model.organization_id == current_organization_id(),
            model.customer_id == customer_id,
            is_open,
        )
        .order_by(*order_by, model.id)
        .limit(SECTION_LIMIT)
    ).all()


def _section(kind, rows, person: str, derived: Callable = lambda row: {}) -> Section:
    """Rows as `kind`, its fields taken from the columns of the same name, the user's name as
    `person` and the rest from `derived(row)`."""
    names = {field.name for field in dataclasses.fields(kind)}
    items = [
        kind(
            **{key: value for key, value in row._mapping.items() if key in names},
            **{person: row.person},
            **derived(row),
        )
        for row in rows
    ]
    return Section(items, rows[0].total if rows else 0)


def open_deals(customer_id: int) -> tuple[Section, Decimal | None, str]:
    """The customer's open deals, soonest expected close first, with their count and total."""
    rows = _first_open(
        Opportunity,
        customer_id,
        Opportunity.status == "open",
        Opportunity.owner_id,
        Opportunity.id,
        Opportunity.opportunity_number,
        Opportunity.name,
        PipelineStage.name.label("stage"),
        Opportunity.probability,
        Opportunity.amount,
        Opportunity.currency,
        Opportunity.expected_close_date,
        func.sum(Opportunity.amount).over().label("total_amount"),
        # One currency among them when the smallest and the largest code agree.
        func.min(Opportunity.currency).over().label("min_currency"),
        func.max(Opportunity.currency).over().label("max_currency"),
        order_by=(Opportunity.expected_close_date,),
        joins=((PipelineStage, PipelineStage.id == Opportunity.stage_id),),
    )
    section = _section(OpenDeal, rows, "owner")
    if not rows:
        return section, Decimal("0"), ""
    first = rows[0]
    if first.min_currency != first.max_currency:
        return section, None, ""
    return section, first.total_amount, first.min_currency


def open_tickets(customer_id: int) -> Section:
    """The customer's tickets still being worked, nearest SLA deadline first."""
    rows = _first_open(
        Ticket,
        customer_id,
        Ticket.status.in_(ACTIVE_STATUSES),
        Ticket.assignee_id,
        Ticket.id,
        Ticket.number,
        Ticket.subject,
        Ticket.status,
        Ticket.priority,
        Ticket.sla_due_at,
        Ticket.sla_clock_started_at,
        order_by=(Ticket.sla_due_sort,),
    )
    return _section(
        OpenTicket,
        rows,
        "assignee",
        lambda row: {
            "reference": ticket_reference(row.number),
            "sla_paused": clock_paused(row.status, row.sla_clock_started_at),
        },
    )


def upcoming_activities(customer_id: int) -> Section:
    """The customer's planned and ongoing activities (those overdue first), by due time."""
    rows = _first_open(
        Activity,
        customer_id,
        Activity.status.in_(OPEN_STATUSES),
        Activity.assigned_to_id,
        Activity.id,
        Activity.activity_type,
        Activity.subject,
        Activity.status,
        Activity.due_at,
        order_by=(Activity.due_at,),
    )
    return _section(UpcomingActivity, rows, "assigned_to")


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
